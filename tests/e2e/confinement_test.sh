#!/usr/bin/env bash
# confinement_test.sh - nothing outside DST ever changes, and nothing outside SRC is ever
# read, even when the trees are raced into symlinks during a run.
#
# Every destination write is an *at() call beneath a held directory fd, resolved with
# openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS); every source read likewise. Without that,
# each check here fails:
#   * symlinks escaping the root: a mirror that followed DST/up -> ../canary (when SRC has a
#     directory "up") would create files in the canary and chmod/utime the canary dir;
#   * the races: a helper swaps directories of DST (and of SRC) for symlinks to the canary
#     (or to a "secret" dir holding files of the same names) most of the time while the
#     mirror runs; path-based open()/mkdir()/chmod() would follow them within milliseconds
#     (thousands of files, the symlink in place ~90% of the time), and the snapshots of the
#     canary and secret dirs (names, modes, ns mtimes AND ctimes, contents: a file created
#     and removed again still changes the dir's mtime) would differ, or "SECRET" content
#     would appear in DST.
# Names like "..", "/abs" or "a/../../x" cannot exist in a local tree; they only arrive over
# the wire and are covered by tests/hostile_peer_test.cpp (HostileServer.*, HostileClient.*).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SRC=$T/src DST=$T/dst CANARY=$T/canary SECRET=$T/secret STATE=$T/state
run() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$@"; }

# snap DIR: every path under DIR (and DIR itself) with type, mode, owner, mtime and ctime
# in ns, size and content hash.
snap() {
    python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
for dirpath, dirs, files in os.walk(root):
    dirs.sort()
    for name in [""] + sorted(dirs + files) if dirpath == root else sorted(dirs + files):
        p = os.path.join(dirpath, name) if name else dirpath
        st = os.lstat(p)
        h = ""
        if stat.S_ISREG(st.st_mode):
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            h = os.readlink(p)
        print(os.path.relpath(p, root), oct(st.st_mode), st.st_uid, st.st_gid,
              st.st_mtime_ns, st.st_ctime_ns, st.st_size, h)
EOF
}

mkdir -p "$CANARY/sub" "$SECRET"
echo "canary: must never change" >"$CANARY/keep"
echo "deeper canary" >"$CANARY/sub/keep"
chmod 751 "$CANARY"
touch -d '2001-02-03 04:05:06.123456789' "$CANARY/sub" "$CANARY"
snap "$CANARY" >"$T/canary.before"
outside_unchanged() {
    snap "$CANARY" >"$T/canary.after"
    if ! diff -u "$T/canary.before" "$T/canary.after" >"$T/canary.diff"; then
        _show "canary diff" "$(cat "$T/canary.diff")"
        die "$1: the canary outside DST changed"
    fi
    pass "$1: canary outside DST unchanged (names, modes, mtimes, ctimes, contents)"
}

# ---- symlinks whose targets leave the tree are copied verbatim, never followed
mkdir -p "$SRC/a/b"
echo data >"$SRC/a/b/f"
ln -s ../canary "$SRC/up"
ln -s "$CANARY" "$SRC/abs"
ln -s ../../../../../../../../../../etc/passwd "$SRC/a/deep"
ln -s "$CANARY/keep" "$SRC/a/b/to-file"
assert_exit 0 run "$SRC" "$DST"
tree_identical "$SRC" "$DST" && pass "escaping symlinks mirrored verbatim"
outside_unchanged "escaping symlinks"

# The symlinks become directories (and a file) in SRC: DST's links to the canary must be
# replaced, not written through. Dir modes and mtimes differ from the canary's, so a
# followed chmod/utime would show too.
rm "$SRC/up" "$SRC/abs" "$SRC/a/b/to-file"
mkdir -p "$SRC/up/sub" "$SRC/abs"
echo "written beneath DST" >"$SRC/up/keep"
echo "written beneath DST" >"$SRC/up/sub/keep"
echo "new" >"$SRC/abs/new"
echo "not the canary's keep" >"$SRC/a/b/to-file"
chmod 700 "$SRC/up" "$SRC/abs"
touch -d '1999-01-01' "$SRC/up" "$SRC/abs"
assert_exit 0 run "$SRC" "$DST"
tree_identical "$SRC" "$DST" && pass "symlinks to the outside replaced by real dirs and files"
outside_unchanged "symlink -> dir"

# Planted by someone with write access to DST (not by ktsync): a deeper dir is a symlink to
# the canary, and SRC has a directory there with files in it.
mkdir -p "$SRC/p/q/r"
echo deep >"$SRC/p/q/r/file"
assert_exit 0 run "$SRC" "$DST"
rm -rf "$DST/p/q"
ln -s "$CANARY" "$DST/p/q"
echo changed >"$SRC/p/q/r/file"
chmod 700 "$SRC/p/q"
assert_exit 0 run "$SRC" "$DST"
tree_identical "$SRC" "$DST" && pass "planted symlink in DST replaced"
outside_unchanged "planted symlink"

# ---- races: directories swapped for symlinks to the outside while ktsync runs
# racer DIR TARGET STOPFILE NAMES...: until STOPFILE exists, swap each DIR/NAME that is a
# real dir for a symlink to TARGET (kept ~2 ms), then swap it back. Creates
# STOPFILE.<basename of DIR>.ready once running; prints the swap count.
racer() {
    python3 - "$@" <<'EOF'
import os, stat, sys, time
root, target, stop, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
swaps = 0
open(stop + "." + os.path.basename(root) + ".ready", "w").close()
while not os.path.exists(stop):
    for n in names:
        p, hold = os.path.join(root, n), os.path.join(root, ".hold-" + n)
        try:
            if not stat.S_ISDIR(os.lstat(p).st_mode):
                continue
            os.rename(p, hold)
        except OSError:
            continue
        try:
            os.symlink(target, p)
            swaps += 1
            time.sleep(0.002)
            if os.path.islink(p):
                os.unlink(p)
        except OSError:
            pass
        try:
            os.rename(hold, p)  # fails if ktsync made a new non-empty dir there: left as extraneous
        except OSError:
            pass
    time.sleep(0.0002)
print(swaps)
EOF
}

rm -rf "$SRC" "$DST"
NAMES=()
for d in $(seq -w 1 16); do
    NAMES+=("d$d")
    mkdir -p "$SRC/d$d/inner" "$SECRET/d$d/inner"
    for f in $(seq 1 100); do
        echo "real $d $f" >"$SRC/d$d/f$f"
        echo "SECRET $d $f: must never be copied" >"$SECRET/d$d/f$f"
    done
    echo "real inner $d" >"$SRC/d$d/inner/g"
    echo "SECRET inner $d" >"$SECRET/d$d/inner/g"
done
chmod 700 "$SRC"/d*
snap "$SECRET" >"$T/secret.before"
secret_unread() {  # $1: what ran
    snap "$SECRET" >"$T/secret.after"
    diff -q "$T/secret.before" "$T/secret.after" >/dev/null || die "$1: the secret dir changed"
    if grep -rl SECRET "$DST" >"$T/leaked" 2>/dev/null; then
        _show leaked "$(cat "$T/leaked")"
        die "$1: content from outside SRC reached DST"
    fi
    pass "$1: nothing outside SRC was read into DST"
}

LOOPS=0 DST_REFUSALS=0 SRC_REFUSALS=0
# race_runs LABEL COUNT CMD...: COUNT runs of CMD into a fresh DST (its directories exist,
# empty, so every file is written) while SRC and DST race.
race_runs() {
    local label=$1 count=$2 i rc src_swaps dst_swaps n
    shift 2
    for ((i = 1; i <= count; i++)); do
        rm -rf "$DST" "$T"/stop*
        mkdir "$DST"
        for n in "${NAMES[@]}"; do mkdir "$DST/$n"; done
        racer "$DST" "$CANARY" "$T/stop" "${NAMES[@]}" >"$T/dst.swaps" &
        local dpid=$!
        racer "$SRC" "$SECRET" "$T/stop" "${NAMES[@]}" >"$T/src.swaps" &
        local spid=$!
        for n in $(seq 100); do
            [[ -e $T/stop.dst.ready && -e $T/stop.src.ready ]] && break
            sleep 0.02
        done
        sleep 0.01
        rc=0
        local err=$T/race-$label-$i.err
        "$@" >"$OUT" 2>"$err" || rc=$?
        touch "$T/stop"
        wait "$dpid" "$spid"
        src_swaps=$(cat "$T/src.swaps") dst_swaps=$(cat "$T/dst.swaps")
        LOOPS=$((LOOPS + 1))
        # Writes refused beneath a swapped DST dir; reads refused beneath a swapped SRC dir.
        DST_REFUSALS=$((DST_REFUSALS + $(grep -c 'never follows symlinks inside the destination' "$err" || true)))
        SRC_REFUSALS=$((SRC_REFUSALS + $(grep -c -e 'now a symlink' -e 'vanished before it could be' "$err" || true)))
        case $rc in
            0 | 23 | 24) ;;
            *) _show stderr "$(tail -n 20 "$err")"; die "$label run $i: exit $rc under the race (wanted 0, 23 or 24)" ;;
        esac
        if grep -q -e 'internal error' -e 'protocol error' "$err"; then
            _show stderr "$(tail -n 20 "$err")"
            die "$label run $i: an internal or protocol error under the race"
        fi
        note "$label run $i: exit $rc, $src_swaps SRC swaps, $dst_swaps DST swaps"
        outside_unchanged "$label run $i"
        secret_unread "$label run $i"
        # Leftovers of the race (hold dirs) are ordinary extraneous entries: the next calm
        # run must converge, and no ktsync temp file may survive it.
        assert_exit 0 "$@"
        tree_identical "$SRC" "$DST" && pass "$label run $i: a calm rerun completes the mirror"
        [[ -z $(find "$DST" -name '.ktsync-tmp.*') ]] || die "$label run $i: temp files left"
    done
}

race_runs local 4 run "$SRC" "$DST"

export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
ks() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@"; }
race_runs push 2 ks "$SRC" "$SSH_HOST:$DST"
race_runs pull 2 ks "$SSH_HOST:$SRC" "$DST"

note "$LOOPS raced runs; refused to follow a swapped-in symlink: $DST_REFUSALS writes, $SRC_REFUSALS reads"
((DST_REFUSALS > 0 && SRC_REFUSALS > 0)) || die "the races never hit ktsync: the test did not exercise confinement"
pass "the races were hit and nothing escaped"
