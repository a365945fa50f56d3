#!/usr/bin/env bash
# daemon_limits_test.sh - the daemon's resource limits under abuse:
#   * --max-connections 1: while one client runs, a second gets a clear "server busy" error
#     at once (exit 5), and is served once the first is done;
#   * pre-authentication garbage: 10 MB of random bytes on one connection, 30 parallel
#     2 MB floods, TLS-record-shaped junk, and 100 silent half-open connections held while a
#     real client runs. Each garbage connection is dropped long before its bytes are all
#     sent, the daemon's resident memory stays within +20 MB of what it was, and it keeps
#     serving real clients throughout;
#   * at most 128 connections may be authenticating at once: 400 silent ones get no more
#     than that many threads, and once they are gone clients are served again;
#   * a daemon that cannot create threads (RLIMIT_NPROC) drops the connection it cannot
#     serve and lives on (it used to end with "internal error").
# (Read-only/write-only, the secret file's mode and the silent client's auth timeout are
# in daemon_mirror_test.sh.)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SECRET=$T/secret
head -c 32 /dev/urandom | base64 >"$SECRET"
chmod 600 "$SECRET"
ROOT=$T/root
mkdir -p "$ROOT/data/d"
head -c $((6 << 20)) /dev/urandom >"$ROOT/data/big"
for i in $(seq 1 50); do echo "file $i" >"$ROOT/data/d/f$i"; done

stop_daemon() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; }
kd() { "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --no-progress "$@"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DPID/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$DPID/status"; }

# ---- --max-connections 1
start_daemon "$ROOT" --max-connections 1
URL=ktsync://127.0.0.1:$DPORT
kd --bwlimit 1M "$URL/data" "$T/first" >"$T/first.out" 2>"$T/first.err" &
first=$!
wait_in_flight "$T/first" || true  # the first client is in its data phase once a file is in flight
kill -0 "$first" 2>/dev/null || die "the first client ended before the second could try"
t0=$(date +%s%N)
assert_exit 5 kd "$URL/data" "$T/second"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_contains "$ERR" "server busy" "the second client is told the server is busy"
assert_contains "$ERR" "--max-connections 1" "the message names the limit"
assert_eq 1 "$(grep -c '^ktsync: ' "$ERR")" "one error line"
((ms < 5000)) || die "the busy refusal took $ms ms"
pass "refused in $ms ms, not after a timeout"
[[ ! -e $T/second/big ]] || die "the refused client received data"
rc=0
wait "$first" || rc=$?
assert_eq 0 "$rc" "the first client finished undisturbed"
tree_identical "$ROOT/data" "$T/first" && pass "the first client's mirror is complete"
assert_exit 0 kd "$URL/data" "$T/second"
tree_identical "$ROOT/data" "$T/second" && pass "after the first left, the second client is served"
assert_exit 0 kd "$URL/data" "$T/third"
pass "the slot is released after each client (a third is served too)"
stop_daemon

# ---- pre-authentication garbage
start_daemon "$ROOT"
URL=ktsync://127.0.0.1:$DPORT
assert_exit 0 kd "$URL/data" "$T/warm"  # the daemon's steady state includes one served client
sleep 0.5
rss0=$(rss_kb) hwm0=$(hwm_kb)
note "daemon RSS before the floods: $rss0 kB (peak so far $hwm0 kB)"

# flood SIZE_BYTES COUNT [tls]: COUNT parallel connections each sending SIZE random bytes
# (or, with "tls", 16 KiB TLS handshake records of junk). Prints, per connection, the bytes
# the daemon accepted before it dropped the connection, and the seconds it took.
flood() {
    python3 - "$DPORT" "$@" <<'EOF'
import os, socket, sys, threading, time
port, size, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tls = len(sys.argv) > 4
results = []
def one():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(30)
    sent, t0 = 0, time.time()
    chunk = os.urandom(65536)
    if tls:
        chunk = (b"\x16\x03\x03\x40\x00" + os.urandom(16384)) * 4
    try:
        while sent < size:
            sent += s.send(chunk[: min(len(chunk), size - sent)])
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        closed = True
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    except socket.timeout:
        closed = False
    results.append((sent, time.time() - t0, closed))
    s.close()
threads = [threading.Thread(target=one) for _ in range(count)]
for t in threads: t.start()
for t in threads: t.join()
for sent, secs, closed in results:
    print(sent, "%.2f" % secs, "closed" if closed else "open")
EOF
}

flood $((10 << 20)) 1 >"$T/flood1"
read -r sent secs state <"$T/flood1"
note "10 MB random flood: the daemon took $sent bytes, dropped it after ${secs}s ($state)"
[[ $state == closed ]] || die "the garbage connection was not closed by the daemon"
((sent < (10 << 20))) || die "the daemon swallowed all 10 MB of garbage instead of dropping the connection"
pass "10 MB of random bytes: connection dropped after $sent bytes"

flood $((2 << 20)) 30 >"$T/flood30"
awk '$3 != "closed" {bad++} END {exit bad > 0}' "$T/flood30" || die "a flooding connection stayed open"
pass "30 parallel 2 MB floods: all dropped (max $(sort -n "$T/flood30" | tail -1 | cut -d' ' -f1) bytes taken)"

flood $((4 << 20)) 4 tls >"$T/floodtls"
awk '$3 != "closed" {bad++} END {exit bad > 0}' "$T/floodtls" || die "a TLS-shaped junk connection stayed open"
pass "TLS-record-shaped junk: all dropped"

# hold COUNT STOPFILE: open COUNT connections that say nothing, keep them until STOPFILE
# exists (STOPFILE.ready once all are open). Sets HOLDER.
hold() {
    rm -f "$2" "$2.ready"
    python3 - "$DPORT" "$@" >/dev/null 2>&1 <<'EOF' &
import os, socket, sys, time
port, count, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
open(stop + ".ready", "w").close()
while not os.path.exists(stop):
    time.sleep(0.05)
EOF
    HOLDER=$!
    at_exit "kill $HOLDER 2>/dev/null"
    local i
    for i in $(seq 200); do [[ -e $2.ready ]] && return 0; sleep 0.05; done
    die "could not open $1 connections"
}
threads() { awk '/^Threads:/ {print $2}' "/proc/$DPID/status"; }

hold 100 "$T/hold"
assert_exit 0 kd "$URL/data" "$T/during"
tree_identical "$ROOT/data" "$T/during" && pass "a real client is served while 100 silent connections wait"
touch "$T/hold"
wait "$HOLDER"

sleep 1
kill -0 "$DPID" 2>/dev/null || die "the daemon died"
rss1=$(rss_kb) hwm1=$(hwm_kb)
note "daemon RSS after the floods: $rss1 kB (+$((rss1 - rss0)) kB); peak $hwm1 kB (+$((hwm1 - hwm0)) kB)"
if [[ $(ldd "$KTSYNC" 2>/dev/null) == *libasan* ]]; then
    note "ASan build: its quarantine keeps freed memory resident, so the RSS bound is not checked"
else
    ((rss1 - rss0 < 20480)) || die "daemon RSS grew by $((rss1 - rss0)) kB under garbage"
    pass "daemon RSS stayed within +20 MB (+$((rss1 - rss0)) kB)"
fi
assert_exit 0 kd "$URL/data" "$T/after"
tree_identical "$ROOT/data" "$T/after" && pass "the daemon keeps serving after the floods"
grep -q "connection dropped" "$T/daemon.$DPORT.log" || die "no 'connection dropped' in the daemon log"
pass "the daemon logged the dropped connections (-v)"

# ---- the cap on connections still authenticating
hold 400 "$T/hold2"
sleep 1
n=$(threads) rss=$(rss_kb)
note "400 silent connections: daemon has $n threads, RSS $rss kB"
((n <= 128 + 4)) || die "$n threads for 400 unauthenticated connections (cap 128)"
pass "400 silent connections hold at most 128 threads"
grep -q "connections are authenticating; a new one was dropped" "$T/daemon.$DPORT.log" ||
    die "the daemon did not say it dropped connections over the cap"
touch "$T/hold2"
wait "$HOLDER"
sleep 0.5
assert_exit 0 kd "$URL/data" "$T/after-cap"
pass "once they are gone, clients are served again"
stop_daemon

# ---- no threads left: the daemon drops the connection and lives
W=$(mktemp -d /tmp/ktsync-daemon-limits.XXXXXX)
chmod 755 "$W"
at_exit "rm -rf '$W'"
cp -a "$ROOT" "$W/root"
install -o nobody -m 600 "$SECRET" "$W/secret"
mkdir -m 777 "$W/state"
DPORT=$(free_port)
prlimit --nproc=24:24 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$KTSYNC" serve --listen "127.0.0.1:$DPORT" --root "$W/root" --secret-file "$W/secret" \
    --state-dir "$W/state" -v >"$T/daemon.nproc.log" 2>&1 &
DPID=$!
at_exit "kill $DPID 2>/dev/null; wait $DPID 2>/dev/null"
wait_port "$DPORT" 10 || die "the thread-limited daemon did not start"
hold 80 "$T/hold3"
sleep 0.5
kill -0 "$DPID" 2>/dev/null || { _show log "$(tail -5 "$T/daemon.nproc.log")"; die "the daemon died when it ran out of threads"; }
grep -q "cannot start a thread" "$T/daemon.nproc.log" ||
    die "the daemon never ran out of threads (the test did not exercise the limit)"
pass "out of threads: connections dropped, the daemon lives"
touch "$T/hold3"
wait "$HOLDER"
sleep 1.5
assert_exit 0 kd "ktsync://127.0.0.1:$DPORT/data" "$T/after-nproc"
tree_identical "$ROOT/data" "$T/after-nproc" && pass "and serves the next client"
