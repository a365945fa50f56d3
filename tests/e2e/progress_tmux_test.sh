#!/usr/bin/env bash
# The live progress line, seen on a real terminal: a local mirror of 600 MiB (six 100 MiB
# files) runs inside a tmux pane whose screen is captured every 0.2 s. The progress is one
# line that is rewritten in place, its percentage never decreases, passes through at least
# one value strictly between 0 and 100, and ends at 100 %. In a 50-column pane the line
# fits: it never wraps. Off a terminal nothing is shown unless --progress, which then
# prints plain lines (no carriage return, no escape sequence) once a second; -q prints
# nothing at all on success, on a terminal or not. With -v each name is a line of its own:
# the live line is cleared before a name is written, never run into.
#
# --bwlimit 200M stretches the copy to about 3 s: from the page cache this machine copies
# 600 MiB in half a second, less than two refreshes of the line (every 250 ms).
source "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || die "tmux is not installed (scripts/setup.sh installs it)"

SRC=$T/src STATE=$T/state
mkdir -p "$SRC"
head -c 100M /dev/urandom >"$SRC/f1"
for i in 2 3 4 5 6; do
    cp "$SRC/f1" "$SRC/f$i"
    echo "$i" >>"$SRC/f$i"   # different content and size per file
done
echo small >"$SRC/small"

SOCK=$T/tmux.sock
tmux_cmd() { tmux -S "$SOCK" "$@"; }
at_exit "tmux -S '$SOCK' kill-server 2>/dev/null"

# in_pane NAME CMD...: run CMD in a fresh 150x10 tmux session NAME (a real terminal); its
# exit status goes to $T/NAME.rc. The session stays open so its screen can be read.
# PANE_COLUMNS overrides the width.
in_pane() {
    local name=$1 cmdline
    shift
    cmdline="$(printf '%q ' "$@"); echo \$? >$T/$name.rc.tmp; mv $T/$name.rc.tmp $T/$name.rc; exec sleep 600"
    tmux_cmd new-session -d -x "${PANE_COLUMNS:-150}" -y 10 -s "$name" "$cmdline"
}

# wait_pane NAME SECONDS: wait for the command in NAME to end.
wait_pane() {
    local tries=$(($2 * 10))
    while [[ ! -s $T/$1.rc ]] && ((tries-- > 0)); do sleep 0.1; done
    [[ -s $T/$1.rc ]] || die "$1: still running after $2 s: $(tmux_cmd capture-pane -p -t "$1")"
}

# ---- the live line on a terminal
in_pane big "$KTSYNC" mirror --state-dir "$STATE" --bwlimit 200M "$SRC" "$T/dst"
CAPS=$T/captures
: >"$CAPS"
deadline=$((SECONDS + 180))
while [[ ! -s $T/big.rc ]] && ((SECONDS < deadline)); do
    tmux_cmd capture-pane -p -t big >>"$CAPS"
    echo "--- capture" >>"$CAPS"
    sleep 0.2
done
wait_pane big 10
tmux_cmd capture-pane -p -t big >>"$CAPS"
echo "--- capture" >>"$CAPS"
assert_eq 0 "$(cat "$T/big.rc")" "mirror in the tmux pane exits 0"
tree_identical "$SRC" "$T/dst"
pass "600 MiB mirrored"

# One progress text per screen (rewritten in place, never a second line), percentages in
# order of capture.
python3 - "$CAPS" >"$T/percent.txt" <<'PY' || die "progress line check failed: $(cat "$T/percent.txt")"
import re, sys
line = re.compile(r"^\s*(\d{1,3})%  \S+ \S+ / \S+ \S+  files (\d+)/(\d+)  ")
seen = []
for n, screen in enumerate(open(sys.argv[1]).read().split("--- capture\n")[:-1]):
    hits = [line.match(l) for l in screen.split("\n")]
    hits = [h for h in hits if h]
    if len(hits) > 1:
        print("capture %d shows %d progress lines:\n%s" % (n, len(hits), screen))
        sys.exit(1)
    if hits:
        seen.append(int(hits[0].group(1)))
print(" ".join(map(str, seen)))
PY
read -ra PCT <"$T/percent.txt"
note "percentages seen: ${PCT[*]}"
((${#PCT[@]} >= 3)) || die "only ${#PCT[@]} captures showed a progress line: ${PCT[*]}"
prev=-1 mid=0
for p in "${PCT[@]}"; do
    ((p >= prev)) || die "progress went backwards: ${PCT[*]}"
    ((p > 0 && p < 100)) && mid=1
    prev=$p
done
pass "progress never decreases"
((mid)) || die "no intermediate percentage seen: ${PCT[*]}"
pass "an intermediate percentage was shown"
assert_eq 100 "${PCT[-1]}" "progress ends at 100%"
final=$(tmux_cmd capture-pane -p -t big | grep -E '^ *100%' || true)
[[ $final == *"files 7/7"* && $final == *"600.00 MiB / 600.00 MiB"* ]] ||
    die "final line does not show the totals: $final"
pass "final line: $final"

# ---- a 50-column terminal: the line is cut to fit, never wrapped (-J joins wrapped rows)
PANE_COLUMNS=50 in_pane narrow "$KTSYNC" mirror --state-dir "$STATE" --bwlimit 200M "$SRC" "$T/dst50"
[[ $(tmux_cmd display -p -t narrow '#{pane_width}') == 50 ]] || die "the narrow pane is not 50 columns wide"
NARROW=$T/narrow.caps
: >"$NARROW"
deadline=$((SECONDS + 180))
while [[ ! -s $T/narrow.rc ]] && ((SECONDS < deadline)); do
    tmux_cmd capture-pane -J -p -t narrow >>"$NARROW"
    sleep 0.2
done
wait_pane narrow 10
tmux_cmd capture-pane -J -p -t narrow >>"$NARROW"
assert_eq 0 "$(cat "$T/narrow.rc")" "mirror in the 50-column pane exits 0"
widest=$(awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }' "$NARROW")
((widest < 50)) || die "a line of $widest columns in a 50-column pane: $(awk 'length($0) >= 50' "$NARROW" | head -3)"
grep -qE '^ *[0-9]{1,3}%  ' "$NARROW" || die "no progress line in the 50-column pane: $(tail -5 "$NARROW")"
final=$(tmux_cmd capture-pane -J -p -t narrow | grep -E '^ *100%' || true)
[[ $final == *"600.00 MiB / 600.00 MiB"* ]] || die "50 columns: final line lacks the totals: $final"
pass "50 columns: widest line $widest, final: $final"

# ---- -v on a terminal: each name on a line of its own while the live line is shown (the
# line is cleared before a name is written, and redrawn below it), never "ETA 0:02f3"
in_pane verbose "$KTSYNC" mirror --state-dir "$STATE" -v --bwlimit 200M "$SRC" "$T/dstv"
wait_pane verbose 180
assert_eq 0 "$(cat "$T/verbose.rc")" "-v run in the pane exits 0"
tmux_cmd capture-pane -J -p -S - -t verbose >"$T/verbose.screen"
for name in f1 f2 f3 f4 f5 f6 small; do
    [[ $(grep -cx "$name" "$T/verbose.screen") == 1 ]] ||
        die "-v on a terminal: '$name' is not a line of its own: $(cat "$T/verbose.screen")"
done
! grep -qE '[0-9]%  .*(f[1-6]|small)$' "$T/verbose.screen" ||
    die "-v on a terminal: a name ran into the progress line: $(grep -E '%  ' "$T/verbose.screen")"
grep -qE '^ *100%  600\.00 MiB / 600\.00 MiB' "$T/verbose.screen" ||
    die "-v on a terminal: no final progress line: $(cat "$T/verbose.screen")"
pass "-v on a terminal: every name on its own line, the progress line apart"

# ---- -q and --no-progress on a terminal: nothing at all
echo changed >"$SRC/small"
in_pane quiet "$KTSYNC" mirror --state-dir "$STATE" -q "$SRC" "$T/dst"
wait_pane quiet 60
assert_eq 0 "$(cat "$T/quiet.rc")" "-q run in the pane exits 0"
assert_eq "" "$(tmux_cmd capture-pane -p -t quiet | tr -d ' \n')" "-q on a terminal prints nothing"
echo again >"$SRC/small"
in_pane noprog "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$SRC" "$T/dst"
wait_pane noprog 60
assert_eq "" "$(tmux_cmd capture-pane -p -t noprog | tr -d ' \n')" "--no-progress on a terminal prints nothing"

# ---- not a terminal
run_piped() { "$KTSYNC" mirror --state-dir "$STATE" "$@" </dev/null >"$OUT" 2>"$ERR"; }
echo 1 >"$SRC/small"
run_piped "$SRC" "$T/dst"
assert_eq "" "$(cat "$OUT" "$ERR")" "not a terminal: no progress, no output"
echo 2 >"$SRC/small"
run_piped --progress "$SRC" "$T/dst"
[[ ! -s $OUT ]] || die "--progress wrote to stdout"
! grep -q $'[\r\x1b]' "$ERR" || die "--progress off a terminal wrote control codes: $(cat -v "$ERR")"
last=$(tail -n1 "$ERR")
[[ $last == "100%"* ]] || die "--progress off a terminal: last line is not 100%: $(cat -v "$ERR")"
pass "--progress off a terminal shows plain lines on stderr: $last"
# A longer run: a plain line a second (the copy takes about 3 s), then the final one.
run_piped --progress --bwlimit 200M "$SRC" "$T/dst-plain"
! grep -q $'[\r\x1b]' "$ERR" || die "--progress off a terminal wrote control codes: $(cat -v "$ERR" | head -3)"
lines=$(grep -cE '^ *[0-9]{1,3}%  ' "$ERR" || true)
((lines >= 2 && lines <= 10)) || die "--progress off a terminal: $lines progress lines in a 3 s copy: $(cat "$ERR")"
[[ $(wc -l <"$ERR") == "$lines" ]] || die "--progress off a terminal: other lines too: $(cat "$ERR")"
[[ $(tail -n1 "$ERR") == "100%  600.00 MiB / 600.00 MiB"* ]] || die "final plain line: $(tail -n1 "$ERR")"
pass "--progress off a terminal: $lines plain lines, one a second, ending at 100%"
echo 3 >"$SRC/small"
run_piped -q --progress "$SRC" "$T/dst"
assert_eq "" "$(cat "$OUT" "$ERR")" "-q wins over --progress: nothing printed"
tree_identical "$SRC" "$T/dst"
