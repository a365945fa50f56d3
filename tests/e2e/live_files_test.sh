#!/usr/bin/env bash
# live_files_test.sh - files written while they are mirrored end up in the backup, locally,
# pushed and pulled over ssh (apply/source_read.h):
#  - a log appended every 50 ms (the usual case): in DST after every run, as a prefix of
#    what SRC holds by then; the run says "changed" (exit 24) only if a read never came
#    out consistent;
#  - a file appended without pause: read 4 times, then the last full read is kept and the
#    run ends with 24 and names it; the next run, with the writer stopped, makes DST equal
#    SRC (exit 0);
#  - --skip-changing-files: the same file is not copied (exit 24), DST keeps what it had.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
W=$T/w
mkdir -p "$W"

# appender FILE PAUSE: appends a numbered line to FILE every PAUSE seconds (0: no pause)
# until killed; its pid in $APPENDER. Returns once the first lines are in.
appender() {
    local size i
    size=$(stat -c %s "$1")
    python3 -c '
import sys, time
pause = float(sys.argv[2])
with open(sys.argv[1], "a", buffering=1) as f:
    n = 0
    while True:
        n += 1
        f.write("line %d\n" % n)
        if pause: time.sleep(pause)
' "$1" "$2" &
    APPENDER=$!
    at_exit "kill $APPENDER 2>/dev/null || true"
    for ((i = 0; i < 100; i++)); do
        (($(stat -c %s "$1") > size)) && return
        sleep 0.05
    done
    die "the appender did not start writing to $1"
}

# mirror MODE [OPTIONS...]: ktsync from $W/src to $W/dst in MODE; exit status in $RC.
mirror() {
    local mode=$1 src=$W/src dst=$W/dst
    shift
    case $mode in
        push) dst=$SSH_HOST:$dst ;;
        pull) src=$SSH_HOST:$src ;;
    esac
    RC=0
    "$KTSYNC" mirror --state-dir "$T/state" --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@" "$src" "$dst" >"$OUT" 2>"$ERR" || RC=$?
}

# dst_is_prefix WHAT: DST's log is in DST and is a prefix of SRC's.
dst_is_prefix() {
    [[ -f $W/dst/log ]] || die "$1: log is not in DST"
    local n
    n=$(stat -c %s "$W/dst/log")
    cmp -s -n "$n" "$W/dst/log" "$W/src/log" || die "$1: DST's log is not what SRC's log held"
    pass "$1: log is in DST ($n bytes), a prefix of SRC's"
}

for mode in local push pull; do
    rm -rf "$W/src" "$W/dst"
    mkdir -p "$W/src/d"
    head -c 4M /dev/urandom >"$W/src/log"
    echo still >"$W/src/d/still"

    appender "$W/src/log" 0.05
    for run in 1 2 3; do
        mirror "$mode"
        [[ $RC == 0 || $RC == 24 ]] || { _show stderr "$(cat "$ERR")"; die "$mode, 50 ms appends, run $run: exit $RC"; }
        dst_is_prefix "$mode, 50 ms appends, run $run (exit $RC)"
        echo "more $run" >>"$W/src/log"
    done
    stop_pid "$APPENDER"
    tree_identical "$W/src/d" "$W/dst/d" || die "$mode: the quiet files differ"

    # Without pause: no read is ever consistent (64 MiB takes long enough to read that the
    # appender gets the CPU during each read, even on a loaded machine).
    rm -rf "$W/dst"
    head -c 60M /dev/urandom >>"$W/src/log"
    appender "$W/src/log" 0
    mirror "$mode" --skip-changing-files
    stop_pid "$APPENDER"
    assert_eq 24 "$RC" "$mode, --skip-changing-files: exit 24"
    [[ ! -e $W/dst/log ]] || die "$mode, --skip-changing-files: a changing log was copied"
    grep -q "log: changed" "$ERR" || { _show stderr "$(cat "$ERR")"; die "$mode: the skipped log is not named"; }
    pass "$mode, --skip-changing-files: the changing log is named and not copied"

    appender "$W/src/log" 0
    mirror "$mode"
    stop_pid "$APPENDER"
    assert_eq 24 "$RC" "$mode, constant appends: exit 24"
    grep -q "log: changed while being read, 4 times; kept the last full read" "$ERR" ||
        { _show stderr "$(cat "$ERR")"; die "$mode: the kept log is not named"; }
    dst_is_prefix "$mode, constant appends"
    mirror "$mode"
    assert_eq 0 "$RC" "$mode: once the writer stopped, the next run succeeds"
    tree_identical "$W/src" "$W/dst" || die "$mode: the next run did not make DST equal SRC"
    pass "$mode: the next run makes DST equal SRC"
done
