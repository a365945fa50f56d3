#!/usr/bin/env bash
# The live progress line, seen on a real terminal: a local mirror of 600 MiB (six 100 MiB
# files) runs inside a tmux pane whose screen is captured every 0.2 s. The progress is one
# line that is rewritten in place, its percentage never decreases, passes through at least
# one value strictly between 0 and 100, and ends at 100 %. Off a terminal nothing is shown
# unless --progress; -q prints nothing at all on success, on a terminal or not.
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
in_pane() {
    local name=$1 cmdline
    shift
    cmdline="$(printf '%q ' "$@"); echo \$? >$T/$name.rc.tmp; mv $T/$name.rc.tmp $T/$name.rc; exec sleep 600"
    tmux_cmd new-session -d -x 150 -y 10 -s "$name" "$cmdline"
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
last=$(tr '\r' '\n' <"$ERR" | sed 's/\x1b\[K//g' | grep -v '^$' | tail -n1)
[[ $last == "100%"* ]] || die "--progress off a terminal: last line is not 100%: $(cat -v "$ERR")"
pass "--progress off a terminal shows the line on stderr: $last"
echo 3 >"$SRC/small"
run_piped -q --progress "$SRC" "$T/dst"
assert_eq "" "$(cat "$OUT" "$ERR")" "-q wins over --progress: nothing printed"
tree_identical "$SRC" "$T/dst"
