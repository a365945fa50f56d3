#!/usr/bin/env bash
# scale_1m_test.sh - a 1,000,000-entry tree (1000 dirs x 1000 empty files) mirrors with
# bounded memory: a local mirror, a push and a pull over a private sshd, and no-op reruns
# of each. Reports wall time and peak RSS (/usr/bin/time -f %M) of every process: the
# local run, and the client and the remote `ktsync serve` of the network runs.
#
# Takes minutes and ~3M inodes, so it only runs with KTSYNC_SCALE_TEST=1.
# Bound checked: at most 64 MiB of peak RSS per process, whatever the tree's size (both
# ends stream; nothing holds a whole listing); the numbers are printed for the record.
if [[ ${KTSYNC_SCALE_TEST:-0} != 1 ]]; then
    echo "skipped: set KTSYNC_SCALE_TEST=1"
    exit 0
fi
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

N_DIRS=${KTSYNC_SCALE_DIRS:-1000} PER_DIR=${KTSYNC_SCALE_FILES:-1000}
ENTRIES=$((N_DIRS * PER_DIR + N_DIRS + 1))
LIMIT_KB=65536  # the target: at most 64 MiB per process, whatever the tree size
SRC=$T/src STATE=$T/state
free_inodes=$(df --output=iavail "$T" | tail -1)
((free_inodes > 3 * ENTRIES + 100000)) || die "not enough free inodes in $T ($free_inodes) for 3 x $ENTRIES"

t0=$SECONDS
python3 - "$SRC" "$N_DIRS" "$PER_DIR" <<'EOF'
import os, sys
root, dirs, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(root)
flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
for d in range(dirs):
    dd = os.path.join(root, "d%04d" % d)
    os.mkdir(dd)
    for f in range(per):
        os.close(os.open(os.path.join(dd, "f%04d" % f), flags, 0o644))
EOF
note "generated $ENTRIES entries in $((SECONDS - t0)) s"

# The remote ktsync runs under /usr/bin/time too, writing its peak RSS to $T/remote.time.
cat >"$T/remote-ktsync" <<EOF
#!/bin/sh
exec /usr/bin/time -f "%M %e" -o "$T/remote.time" "$KTSYNC" "\$@"
EOF
chmod 755 "$T/remote-ktsync"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

REPORT=()
# measured LABEL CMD...: run CMD under /usr/bin/time (exit 0 required); records the peak
# RSS of the local process and, for network runs, of the remote one.
measured() {
    local label=$1 rss secs rrss
    shift
    rm -f "$T/remote.time"
    assert_exit 0 /usr/bin/time -f "%M %e" -o "$T/local.time" "$@"
    read -r rss secs <"$T/local.time"
    ((rss < LIMIT_KB)) || die "$label: peak RSS $rss kB, above $LIMIT_KB kB for $ENTRIES entries"
    if [[ -s $T/remote.time ]]; then
        read -r rrss _ < <(tail -1 "$T/remote.time")
        ((rrss < LIMIT_KB)) || die "$label: remote peak RSS $rrss kB, above $LIMIT_KB kB"
        REPORT+=("$(printf '%-22s %8s s   client %7d kB   remote %7d kB' "$label" "$secs" "$rss" "$rrss")")
    else
        REPORT+=("$(printf '%-22s %8s s   local  %7d kB' "$label" "$secs" "$rss")")
    fi
    pass "$label: ${secs}s, peak RSS within $LIMIT_KB kB"
}

# count DIR: entries under DIR, itself included
count() { find "$1" | wc -l; }

K=("$KTSYNC" mirror --state-dir "$STATE" --no-progress)
KS=("${K[@]}" -e "$SSH_CMD" --remote-ktsync "$T/remote-ktsync")

measured "local mirror" "${K[@]}" "$SRC" "$T/local"
assert_eq "$ENTRIES" "$(count "$T/local")" "local mirror: every entry arrived"
measured "local no-op rerun" "${K[@]}" -i "$SRC" "$T/local"
assert_eq "" "$(cat "$OUT")" "local no-op rerun changes nothing"

measured "push over ssh" "${KS[@]}" "$SRC" "$SSH_HOST:$T/pushed"
assert_eq "$ENTRIES" "$(count "$T/pushed")" "push: every entry arrived"
measured "push no-op rerun" "${KS[@]}" -i "$SRC" "$SSH_HOST:$T/pushed"
assert_eq "" "$(cat "$OUT")" "push no-op rerun changes nothing"

measured "pull over ssh" "${KS[@]}" "$SSH_HOST:$SRC" "$T/pulled"
assert_eq "$ENTRIES" "$(count "$T/pulled")" "pull: every entry arrived"

# Spot check of metadata: a sample of paths, compared fully.
for d in d0000 "d$(printf %04d $((N_DIRS / 2)))" "d$(printf %04d $((N_DIRS - 1)))"; do
    for copy in local pushed pulled; do
        tree_identical "$SRC/$d" "$T/$copy/$d" || die "$copy/$d differs"
    done
done
pass "sampled directories identical in all three copies"

echo "# $ENTRIES entries, peak RSS per process (/usr/bin/time %M):"
for line in "${REPORT[@]}"; do echo "#   $line"; done
