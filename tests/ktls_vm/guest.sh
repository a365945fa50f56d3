#!/bin/sh
# guest.sh - runs INSIDE the kTLS VM (busybox sh, root, cwd /work, KTLSVM=1);
# started by tests/ktls_vm/run.sh through run-in-ktls-vm.sh.
#
# Usage: guest.sh KTSYNC SRC_TREE [TEST_BINARY...]
#
# Checks, each reported as "ok N - ..." / "not ok N - ...":
#   1. the tls module is loaded (/proc/net/tls_stat is printed)
#   2. ktsync --version runs (the binary and its libraries work in the VM)
#   3. push SRC_TREE (made on the host by gen_tree.py) over loopback TCP with
#      `ktsync serve` + `ktsync mirror --require-ktls --stats`, then prove:
#      a second `mirror -n -i` to the daemon itemizes nothing, the kernel set
#      up kTLS TX (TlsTxSw grew), and the copy has the same names, types,
#      modes, sizes, mtimes, link counts, owners, symlink targets and content
#   4. mixed pairs, both directions: a kTLS sender with a --no-ktls receiver and the
#      reverse mirror the tree exactly (one wire format), and the same push in
#      userspace TLS gives the kTLS-vs-userspace throughput in this VM
#   5. every TEST_BINARY (e.g. build/tests/tls_channel_test, whose tests include a
#      peer KeyUpdate on a kTLS stream failing cleanly) exits 0
# Ends with "ktls_vm guest: N passed, N failed"; exit status 1 if any failed.
#
# Busybox only: no python, no bash.  Keep it POSIX sh.

KTSYNC=${1:?usage: guest.sh KTSYNC SRC_TREE [TEST_BINARY...]}
SRC=${2:?usage: guest.sh KTSYNC SRC_TREE [TEST_BINARY...]}
shift 2
PORT=7873
LOGDIR=/tmp/ktls_vm_logs
mkdir -p "$LOGDIR"

# ============================================================================
# The ktsync command lines of the network test (the only part that should need
# editing when the CLI changes).  Daemon mode: a ktsync:// push authenticated
# with a shared secret; state dirs are per side so no hash cache is shared.
# ============================================================================
SECRET=/tmp/secret
DROOT=/tmp/droot
DST=$DROOT/dst
URL=ktsync://127.0.0.1:$PORT/dst

# start_server: start the receiving side in the background; set SERVER_PID.
start_server() {
    head -c 32 /dev/urandom | base64 >"$SECRET"
    chmod 600 "$SECRET"
    mkdir -p "$DROOT"
    "$KTSYNC" serve --listen "127.0.0.1:$PORT" --root "$DROOT" --secret-file "$SECRET" \
        --state-dir /tmp/state-serve -v >"$LOGDIR/serve.log" 2>&1 &
    SERVER_PID=$!
}

# push: send SRC to the server; fails unless kTLS really carries the data.
push() {
    "$KTSYNC" mirror --state-dir /tmp/state-client --secret-file "$SECRET" \
        --require-ktls --stats "$SRC" "$URL"
}

# recheck: a dry run over the same connection type; prints what it would change.
recheck() {
    "$KTSYNC" mirror --state-dir /tmp/state-client --secret-file "$SECRET" \
        --require-ktls -n -i "$SRC" "$URL"
}

# itemized: the itemize lines (not the dry-run totals) in recheck's output.
itemized() {
    grep -E '^([<>ch.][fdLDS][-+.a-z]{9}|\*deleting  ) ' || true
}

# ============================================================================

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $*"; }
not_ok() { N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $*"; }
section() { echo; echo "=== $* ==="; }

# tls_stat NAME: one counter from /proc/net/tls_stat (0 if absent).
tls_stat() {
    awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' /proc/net/tls_stat 2>/dev/null || echo 0
}

# wait_listen PORT: until something listens on 127.0.0.1:PORT (max ~30 s).
wait_listen() {
    hex=$(printf '%04X' "$1")
    i=0
    while [ $i -lt 300 ]; do
        grep -Eq ":$hex [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# listing DIR: every entry's name, type, mode, size (not dirs), ns mtime,
# link count, owner and symlink target (%N), sorted; then content checksums.
listing() {
    (
        cd "$1" || exit 1
        find . ! -type d -exec stat -c '%N|%F|%a|%s|%y|%h|%u:%g' {} +
        find . -type d -exec stat -c '%N|%F|%a|-|%y|%h|%u:%g' {} +
        find . -type f -exec md5sum {} +
    ) | sort
}

check_tls_module() {
    section "tls module"
    if [ -r /proc/net/tls_stat ]; then
        cat /proc/net/tls_stat
        ok "tls module loaded"
    else
        not_ok "tls module not loaded: /proc/net/tls_stat missing"
    fi
}

check_version() {
    section "ktsync --version"
    if "$KTSYNC" --version; then
        ok "ktsync --version"
    else
        not_ok "ktsync --version failed (exit $?)"
    fi
}

push_tree() {
    section "push $(du -sm "$SRC" | cut -f1) MiB over loopback with kTLS"
    tx_before=$(tls_stat TlsTxSw)
    start_server
    if ! wait_listen "$PORT"; then
        not_ok "ktsync serve did not listen on 127.0.0.1:$PORT"
        cat "$LOGDIR/serve.log"
        kill "$SERVER_PID" 2>/dev/null
        return 0
    fi
    t0=$(cut -d' ' -f1 /proc/uptime)
    if push >"$LOGDIR/push.log" 2>&1; then
        t1=$(cut -d' ' -f1 /proc/uptime)
        cat "$LOGDIR/push.log"
        KTLS_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        ok "push with --require-ktls (${KTLS_SECS}s)"
    else
        not_ok "push failed (exit $?)"
        cat "$LOGDIR/push.log"
    fi
    recheck >"$LOGDIR/recheck.log" 2>&1
    rc=$?
    items=$(itemized <"$LOGDIR/recheck.log")
    if [ $rc -eq 0 ] && [ -z "$items" ]; then
        ok "a second (dry) run finds nothing to do"
    else
        not_ok "a second (dry) run (exit $rc) would still change:"
        head -n 30 "$LOGDIR/recheck.log"
    fi
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    echo "--- serve.log"
    tail -n 20 "$LOGDIR/serve.log"
    cat /proc/net/tls_stat
    tx_after=$(tls_stat TlsTxSw)
    if [ "$tx_after" -gt "$tx_before" ]; then
        ok "kernel TLS TX was set up (TlsTxSw $tx_before -> $tx_after)"
    else
        not_ok "no kTLS socket was configured (TlsTxSw stayed $tx_before)"
    fi
    listing "$SRC" >"$LOGDIR/src.list"
    listing "$DST" >"$LOGDIR/dst.list"
    if cmp -s "$LOGDIR/src.list" "$LOGDIR/dst.list"; then
        ok "copy identical: $(wc -l <"$LOGDIR/src.list") listing lines"
    else
        not_ok "copy differs from the source"
        diff "$LOGDIR/src.list" "$LOGDIR/dst.list" | head -n 30
    fi
}

# secs_since T0: seconds of uptime since T0, one decimal.
secs_since() { awk -v a="$1" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }'; }

# mixed_pairs: kernel TLS on one side only, both directions. The wire format is the
# same either way, so each pairing must mirror the tree exactly; and the same push
# in userspace TLS gives the throughput to compare with the kTLS push above.
mixed_pairs() {
    section "mixed pairs: kTLS on one side only"
    start_server_with() {  # start_server_with EXTRA_SERVE_ARGS...
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        rm -rf "$DROOT"
        mkdir -p "$DROOT"
        "$KTSYNC" serve --listen "127.0.0.1:$PORT" --root "$DROOT" --secret-file "$SECRET" \
            --state-dir /tmp/state-serve-mixed "$@" >>"$LOGDIR/serve-mixed.log" 2>&1 &
        SERVER_PID=$!
        wait_listen "$PORT"
    }
    client() { "$KTSYNC" mirror --state-dir /tmp/state-client-mixed --secret-file "$SECRET" --stats "$@"; }
    # The pairings need correctness, not volume: a copy of the tree without its big file.
    SMALL=/tmp/small
    rm -rf "$SMALL"
    cp -a "$SRC" "$SMALL"
    find "$SMALL" -type f -size +4096k -exec rm -f {} +
    same_as_src() {  # same_as_src DIR NAME [TREE]
        listing "${3:-$SMALL}" >"$LOGDIR/src.list"
        listing "$1" >"$LOGDIR/cmp.list"
        if cmp -s "$LOGDIR/src.list" "$LOGDIR/cmp.list"; then ok "$2: identical"; else
            not_ok "$2: copy differs"; diff "$LOGDIR/src.list" "$LOGDIR/cmp.list" | head -n 10; fi
    }
    says() {  # says LOG PATTERN NAME
        if grep -q "$2" "$1"; then ok "$3"; else not_ok "$3 (no '$2' in the stats)"; cat "$1"; fi
    }

    start_server_with --no-ktls
    rm -rf /tmp/state-client-mixed
    client --require-ktls "$SMALL" "$URL" >"$LOGDIR/m1.log" 2>&1 || not_ok "kTLS sender -> userspace receiver: exit $?"
    says "$LOGDIR/m1.log" "sending: kernel TLS" "kTLS sender -> userspace-only receiver: sender in the kernel"
    same_as_src "$DST" "kTLS sender -> userspace-only receiver"

    rm -rf /tmp/pulled /tmp/state-client-mixed
    client "$URL" /tmp/pulled >"$LOGDIR/m2.log" 2>&1 || not_ok "userspace sender -> kTLS receiver (pull): exit $?"
    says "$LOGDIR/m2.log" "sending: userspace TLS" "userspace-only sender (pull from a --no-ktls daemon)"
    same_as_src /tmp/pulled "pull from a userspace-only sender"

    start_server_with
    rm -rf /tmp/state-client-mixed
    t0=$(cut -d' ' -f1 /proc/uptime)
    client --no-ktls "$SRC" "$URL" >"$LOGDIR/m3.log" 2>&1 || not_ok "userspace sender -> kTLS-capable receiver: exit $?"
    USER_SECS=$(secs_since "$t0")
    says "$LOGDIR/m3.log" "sending: userspace TLS" "userspace sender (--no-ktls) -> kTLS-capable receiver"
    same_as_src "$DST" "userspace sender -> kTLS-capable receiver" "$SRC"
    rm -rf "$DST"
    client "$SMALL" "$URL" >/dev/null 2>&1

    rm -rf /tmp/pulled2 /tmp/state-client-mixed
    client --require-ktls "$URL" /tmp/pulled2 >"$LOGDIR/m4.log" 2>&1 || not_ok "pull with a kTLS sender: exit $?"
    says "$LOGDIR/m4.log" "sending: kernel TLS" "pull: the daemon's sending side ran in the kernel"
    same_as_src /tmp/pulled2 "pull from a kTLS sender"
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    echo "THROUGHPUT same tree, same VM: kTLS push ${KTLS_SECS:-?}s, userspace-TLS push ${USER_SECS}s"
}

run_test_binaries() {
    for t in "$@"; do
        section "$(basename "$t")"
        # the serial console is a tty: keep gtest's colour codes out of the log
        if GTEST_COLOR=no "$t" </dev/null; then
            ok "$(basename "$t")"
        else
            not_ok "$(basename "$t") (exit $?)"
        fi
    done
}

check_tls_module
check_version
push_tree
mixed_pairs
run_test_binaries "$@"

echo
echo "ktls_vm guest: $((N - FAILED)) passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
