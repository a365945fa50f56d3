#!/usr/bin/env bash
# network_errors_test.sh - network failures end with the documented exit code and a clear
# message, and never leave a partial file under its final name: wrong secret, nothing
# listening, remote ktsync missing, ssh failing, unknown host, bad remote paths, the
# daemon killed mid-push and the client killed mid-pull.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

export KTSYNC_STATE_DIR=$T/state-remote   # for the ssh-started remote (sshd SetEnv)
start_sshd

SECRET=$T/secret
head -c 32 /dev/urandom | base64 >"$SECRET"
chmod 600 "$SECRET"
WRONG=$T/wrong-secret
head -c 32 /dev/urandom | base64 >"$WRONG"
chmod 600 "$WRONG"

ROOT=$T/root
mkdir "$ROOT"

# start_pinned_daemon: start a daemon on $ROOT (stopped at exit); sets DPORT (kept across
# restarts when already set) and DPID.
start_pinned_daemon() {
    local attempt
    for attempt in 1 2 3 4 5; do
        DPORT=${DPORT:-$(free_port)}
        "$KTSYNC" serve --listen "127.0.0.1:$DPORT" --root "$ROOT" --secret-file "$SECRET" \
            --state-dir "$T/state-daemon" -v >>"$T/daemon.log" 2>&1 &
        DPID=$!
        at_exit "kill -9 $DPID 2>/dev/null; wait $DPID 2>/dev/null"
        if wait_port "$DPORT" 10 && kill -0 "$DPID" 2>/dev/null; then
            note "daemon pid $DPID on 127.0.0.1:$DPORT"
            return 0
        fi
        kill "$DPID" 2>/dev/null || true
        note "daemon attempt $attempt failed: $(tail -n 2 "$T/daemon.log")"
        sleep 0.5
    done
    die "could not start the daemon on port $DPORT"
}

kd() { "$KTSYNC" mirror --state-dir "$T/state" "$@"; }
ks() { "$KTSYNC" mirror --state-dir "$T/state" -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@"; }

# assert_contains FILE TEXT MSG (TEXT case-insensitive)
assert_contains() {
    if grep -qiF -- "$2" "$1"; then
        pass "$3"
    else
        _show "$(basename "$1")" "$(tail -n 30 "$1")"
        die "$3 (no '$2')"
    fi
}

# no_temps DIR: no .ktsync-tmp.* file is left anywhere under DIR.
no_temps() {
    local left
    left=$(find "$1" -name '.ktsync-tmp.*' | head -n 3)
    [[ -z $left ]] && pass "no temp files under $(_cmd_str "$1")" || die "temp files left: $left"
}

# wait_exit PID SECONDS: wait for a background PID for up to SECONDS; sets WAIT_RC and
# WAIT_SECS; kills it and fails when it is still running.
wait_exit() {
    local pid=$1 limit=$2 start=$SECONDS
    while kill -0 "$pid" 2>/dev/null && ((SECONDS - start < limit)); do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null
        die "pid $pid still running ${limit}s after its peer went away"
    fi
    WAIT_RC=0
    wait "$pid" || WAIT_RC=$?
    WAIT_SECS=$((SECONDS - start))
}

SRC=$T/src
mkdir -p "$SRC/sub"
for i in 1 2 3 4 5; do head -c $((i * 100000)) /dev/urandom >"$SRC/sub/f$i"; done
start_pinned_daemon
URL=ktsync://127.0.0.1:$DPORT

# ---- authentication
assert_exit 0 kd --secret-file "$SECRET" "$SRC" "$URL/dst"
inode_ctime_snapshot "$ROOT/dst" >"$T/snap-before"
echo changed >"$SRC/sub/new"
assert_exit 40 kd --secret-file "$WRONG" "$SRC" "$URL/dst"
assert_contains "$ERR" "secret" "wrong secret: message names the secret"
inode_ctime_snapshot "$ROOT/dst" >"$T/snap-after"
cmp -s "$T/snap-before" "$T/snap-after" && [[ ! -e $ROOT/dst/sub/new ]] &&
    pass "wrong secret: DST unchanged" || die "wrong secret: DST changed"
assert_exit 40 kd --secret-file "$WRONG" "$URL/dst" "$T/wrong-pull"
[[ -z $(find "$T/wrong-pull" -type f 2>/dev/null) ]] && pass "wrong secret: pull got nothing" ||
    die "wrong secret: pull wrote files"
rm "$SRC/sub/new"

# ---- nothing listening
closed=$(free_port)
assert_exit 10 kd --secret-file "$SECRET" "$SRC" "ktsync://127.0.0.1:$closed/dst"
assert_contains "$ERR" "Connection refused" "closed port: message says Connection refused"
assert_contains "$ERR" "127.0.0.1:$closed" "closed port: message names host:port"

# ---- ssh remotes
assert_exit 5 "$KTSYNC" mirror --state-dir "$T/state" -e "$SSH_CMD" --remote-ktsync /nonexistent \
    "$SRC" "$SSH_HOST:$T/ssh-dst"
assert_contains "$ERR" "remote ktsync not found" "missing remote ktsync: message says so"
[[ ! -e $T/ssh-dst ]] && pass "missing remote ktsync: nothing created" || die "$T/ssh-dst created"
assert_exit 255 "$KTSYNC" mirror --state-dir "$T/state" -e "ssh -p $closed -o BatchMode=yes -o ConnectTimeout=5" \
    --remote-ktsync "$KTSYNC" "$SRC" "$SSH_HOST:$T/ssh-dst"
assert_contains "$ERR" "ssh" "ssh to a closed port: message mentions ssh"
assert_exit 255 "$KTSYNC" mirror --state-dir "$T/state" -e "ssh -o BatchMode=yes -o ConnectTimeout=5" \
    "$SRC" "nosuchhost.invalid:$T/ssh-dst"
assert_contains "$ERR" "nosuchhost.invalid" "unknown host: message names the host"
assert_exit 1 ks "$SSH_HOST:$SRC" "$SSH_HOST:$T/ssh-dst"
assert_exit 1 kd --secret-file "$SECRET" "$URL/dst" "$SSH_HOST:$T/ssh-dst"
assert_exit 1 kd --secret-file "$SECRET" "$URL/dst" "$URL/dst2"
[[ ! -e $T/ssh-dst && ! -e $ROOT/dst2 && ! -e $T/x ]] &&
    pass "usage errors created nothing" || die "a usage error created a directory"
assert_exit 3 ks "$SSH_HOST:~nosuchuser/x" "$T/from-nobody"
assert_contains "$ERR" "no user 'nosuchuser'" "remote ~user of an unknown user: the message names it"

# ---- the daemon dies in the middle of a big file (push)
# DST first gets an old, small big.bin; SRC then gets a 512 MiB one.
head -c 1048576 /dev/urandom >"$SRC/big.bin"
assert_exit 0 kd --secret-file "$SECRET" "$SRC" "$URL/dst"
cp "$ROOT/dst/big.bin" "$T/old-big.bin"
head -c 512M /dev/urandom >"$SRC/big.bin"
# Started directly (not through a shell function) so $! is ktsync itself.
"$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --bwlimit 20M "$SRC" "$URL/dst" \
    >"$T/killed-push.out" 2>&1 &
cpid=$!
at_exit "kill -9 $cpid 2>/dev/null"
sleep 2
kill -0 "$cpid" 2>/dev/null || die "push ended before the daemon was killed: $(cat "$T/killed-push.out")"
[[ -n $(find "$ROOT/dst" -name '.ktsync-tmp.*') ]] &&
    note "daemon is writing a temp file: $(find "$ROOT/dst" -name '.ktsync-tmp.*' -printf '%f %s bytes')" ||
    note "no temp file visible 2 s into the push"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true
wait_exit "$cpid" 10
case $WAIT_RC in
    10 | 12 | 23) pass "client exits $WAIT_RC ${WAIT_SECS}s after the daemon was killed" ;;
    *) _show output "$(cat "$T/killed-push.out")"; die "client exit $WAIT_RC after the daemon was killed (wanted 10, 12 or 23)" ;;
esac
grep -v '^$' "$T/killed-push.out" | head -n 3 | sed 's/^/# client: /'
cmp -s "$T/old-big.bin" "$ROOT/dst/big.bin" &&
    pass "killed push: big.bin is still the old, complete version" ||
    die "killed push: big.bin under its final name is not the old version ($(stat -c %s "$ROOT/dst/big.bin" 2>&1))"

start_pinned_daemon
assert_exit 0 kd --secret-file "$SECRET" "$SRC" "$URL/dst"
tree_identical "$SRC" "$ROOT/dst" && pass "rerun after the killed push: identical"
no_temps "$ROOT"

# ---- the client dies in the middle of a big file (pull)
mkdir "$T/pulled"
assert_exit 0 kd --secret-file "$SECRET" --exclude big.bin "$URL/dst" "$T/pulled"
cp "$T/old-big.bin" "$T/pulled/big.bin"
touch -d '2001-01-01' "$T/pulled/big.bin"
cp -p "$T/pulled/big.bin" "$T/old-pulled-big.bin"
"$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --bwlimit 20M "$URL/dst" "$T/pulled" \
    >"$T/killed-pull.out" 2>&1 &
cpid=$!
at_exit "kill -9 $cpid 2>/dev/null"
sleep 2
kill -0 "$cpid" 2>/dev/null || die "pull ended before it was killed: $(cat "$T/killed-pull.out")"
kill -9 "$cpid"
wait "$cpid" 2>/dev/null || true
note "temp files after the killed pull: $(find "$T/pulled" -name '.ktsync-tmp.*' | wc -l)"
cmp -s "$T/old-pulled-big.bin" "$T/pulled/big.bin" &&
    pass "killed pull: big.bin is still the old, complete version" ||
    die "killed pull: big.bin under its final name is not the old version"
kill -0 "$DPID" 2>/dev/null && pass "daemon survived a client killed mid-transfer" ||
    die "daemon died when its client was killed: $(tail -n 5 "$T/daemon.log")"
assert_exit 0 kd --secret-file "$SECRET" "$URL/dst" "$T/pulled"
tree_identical "$SRC" "$T/pulled" && pass "rerun after the killed pull: identical"
no_temps "$T/pulled"
no_temps "$ROOT"

# ---- a frozen peer: --timeout ends the run with exit 30 instead of hanging
"$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --bwlimit 20M --timeout 2 \
    "$SRC" "$URL/frozen" >"$T/frozen.out" 2>&1 &
cpid=$!
at_exit "kill -9 $cpid 2>/dev/null"
sleep 1.5
kill -STOP "$DPID"
at_exit "kill -CONT $DPID 2>/dev/null"
t0=$SECONDS
rc=0
wait "$cpid" || rc=$?
kill -CONT "$DPID"
assert_eq 30 "$rc" "frozen daemon: --timeout exits 30 ($(tail -n 1 "$T/frozen.out"))"
((SECONDS - t0 <= 15)) || die "--timeout 2 took $((SECONDS - t0)) s to fire"
pass "--timeout fired within $((SECONDS - t0)) s"
# The resumed daemon sees the connection gone and removes its temp files.
for _ in $(seq 50); do [[ -z $(find "$ROOT" -name '.ktsync-tmp.*') ]] && break; sleep 0.1; done
no_temps "$ROOT"

# ---- --require-ktls on a kernel without kTLS: exit 41 before the server changes anything
if [[ ! -e /proc/net/tls_stat ]]; then
    assert_exit 41 kd --secret-file "$SECRET" --require-ktls "$SRC" "$URL/needs-ktls"
    assert_contains "$ERR" "tls module not loaded" "--require-ktls says why kernel TLS is unavailable"
    [[ -z $(find "$ROOT/needs-ktls" -mindepth 1 2>/dev/null) ]] ||
        die "--require-ktls refusal still created entries in DST"
    pass "--require-ktls refusal left DST empty"
    assert_exit 41 kd --secret-file "$SECRET" --require-ktls "$URL/dst" "$T/pull-needs-ktls"
    assert_contains "$ERR" "remote sender would encrypt in userspace" "a pull with --require-ktls names the sender"
    [[ -z $(find "$T/pull-needs-ktls" -mindepth 1 2>/dev/null) ]] ||
        die "--require-ktls refusal of a pull still created entries locally"
    pass "--require-ktls refusal of a pull left the local DST empty"
else
    note "this kernel has kTLS: the refusal is covered by the VM test's --require-ktls runs instead"
fi
