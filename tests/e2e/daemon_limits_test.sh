#!/usr/bin/env bash
# daemon_limits_test.sh - the daemon's resource limits under abuse:
#   * --max-connections 1: while one client runs, a second gets a clear "server busy" error
#     at once (exit 5), and is served once the first is done;
#   * pre-authentication garbage: 10 MB of random bytes on one connection, 30 parallel
#     2 MB floods, TLS-record-shaped junk, and 100 silent half-open connections held while a
#     real client runs. Each garbage connection is dropped long before its bytes are all
#     sent, the daemon's resident memory stays within +20 MB of what it was, and it keeps
#     serving real clients throughout;
#   * who may authenticate (admission.h): 135 silent connections from one address get 8
#     slots while a client from another address is served; 400 from 50 addresses get no more
#     than 128 threads, and a real client is still served (it evicts the oldest silent
#     one); an address that failed 10 times is refused at once, another is not;
#   * a daemon that cannot create threads (RLIMIT_NPROC) drops the connection it cannot
#     serve and lives on (it used to end with "internal error").
# (Read-only/write-only, the secret file's mode and the silent client's auth timeout are
# in daemon_mirror_test.sh.)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

new_secret
ROOT=$T/root
mkdir -p "$ROOT/data/d"
head -c $((6 << 20)) /dev/urandom >"$ROOT/data/big"
for i in $(seq 1 50); do echo "file $i" >"$ROOT/data/d/f$i"; done

stop_daemon() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; }
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

# Every client but the real one (kd, from 127.0.0.1) comes from an address of its own in
# 127/8, as attackers elsewhere would: the daemon counts connections per address.
# flood FROM SIZE_BYTES COUNT [tls]: COUNT parallel connections from FROM each sending SIZE
# random bytes (or, with "tls", 16 KiB TLS handshake records of junk). Prints, per
# connection, the bytes the daemon accepted before it dropped the connection, and the
# seconds it took.
flood() {
    python3 - "$DPORT" "$@" <<'EOF'
import os, socket, sys, threading, time
port, source, size, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tls = len(sys.argv) > 5
results = []
def one():
    s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
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

flood 127.0.0.2 $((10 << 20)) 1 >"$T/flood1"
read -r sent secs state <"$T/flood1"
note "10 MB random flood: the daemon took $sent bytes, dropped it after ${secs}s ($state)"
[[ $state == closed ]] || die "the garbage connection was not closed by the daemon"
((sent < (10 << 20))) || die "the daemon swallowed all 10 MB of garbage instead of dropping the connection"
pass "10 MB of random bytes: connection dropped after $sent bytes"

flood 127.0.0.3 $((2 << 20)) 30 >"$T/flood30"
awk '$3 != "closed" {bad++} END {exit bad > 0}' "$T/flood30" || die "a flooding connection stayed open"
pass "30 parallel 2 MB floods: all dropped (max $(sort -n "$T/flood30" | tail -1 | cut -d' ' -f1) bytes taken)"

flood 127.0.0.4 $((4 << 20)) 4 tls >"$T/floodtls"
awk '$3 != "closed" {bad++} END {exit bad > 0}' "$T/floodtls" || die "a TLS-shaped junk connection stayed open"
pass "TLS-record-shaped junk: all dropped"

# hold COUNT STOPFILE ADDRESS...: open COUNT connections that say nothing, from the
# ADDRESSes in turn, keep them until STOPFILE exists (STOPFILE.ready once all are open).
# Sets HOLDER.
hold() {
    rm -f "$2" "$2.ready"
    python3 - "$DPORT" "$@" >/dev/null 2>&1 <<'EOF' &
import os, socket, sys, time
port, count, stop, sources = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4:]
socks = [socket.create_connection(("127.0.0.1", port), source_address=(sources[i % len(sources)], 0))
         for i in range(count)]
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

hold 135 "$T/hold" 127.0.0.9
assert_exit 0 kd "$URL/data" "$T/during"
tree_identical "$ROOT/data" "$T/during" && pass "a real client is served while 135 silent connections from 127.0.0.9 wait"
grep -q "connection refused: 127.0.0.9 already has 8 connections authenticating" "$T/daemon.$DPORT.log" ||
    die "the daemon did not refuse 127.0.0.9 beyond its 8 slots"
pass "127.0.0.9 got 8 slots, the rest were refused at once"
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

# ---- the cap on connections still authenticating, from many addresses
mapfile -t many < <(seq -f '127.0.1.%g' 1 50)
hold 400 "$T/hold2" "${many[@]}"
sleep 1
n=$(threads) rss=$(rss_kb)
note "400 silent connections from 50 addresses: daemon has $n threads, RSS $rss kB"
((n <= 128 + 4)) || die "$n threads for 400 unauthenticated connections (cap 128)"
pass "400 silent connections hold at most 128 threads"
assert_exit 0 kd "$URL/data" "$T/during-cap"
tree_identical "$ROOT/data" "$T/during-cap" && pass "a real client is served while all slots were taken"
grep -q "all authentication slots taken: the oldest connection" "$T/daemon.$DPORT.log" ||
    die "the daemon did not say it evicted a silent connection"
touch "$T/hold2"
wait "$HOLDER"
sleep 0.5
assert_exit 0 kd "$URL/data" "$T/after-cap"
pass "once they are gone, clients are served again"

# ---- failed authentications: the address is refused for a while, others are not
# open_for FROM: seconds (up to 3) the daemon keeps a silent connection from FROM open.
open_for() {
    python3 - "$DPORT" "$1" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=(sys.argv[2], 0))
s.settimeout(3)
t0 = time.time()
try:
    s.recv(1)
except (socket.timeout, ConnectionResetError):
    pass
print("%.1f" % (time.time() - t0))
EOF
}
flood 127.0.0.20 4096 10 >/dev/null
secs=$(open_for 127.0.0.20)
[[ $secs == 0.* ]] || die "127.0.0.20 failed 10 times, yet its next connection stayed open ${secs}s"
grep -q "connection refused: 127.0.0.20 failed to authenticate 10 times" "$T/daemon.$DPORT.log" ||
    die "the refusal of 127.0.0.20 is not logged"
pass "after 10 failures 127.0.0.20 is refused at once (${secs}s)"
secs=$(open_for 127.0.0.21)
[[ $secs == 3.* ]] || die "a connection from 127.0.0.21 was dropped after ${secs}s"
pass "127.0.0.21 may still try (its silent connection stayed open ${secs}s)"
assert_exit 0 kd "$URL/data" "$T/after-penalty"
pass "127.0.0.1's clients are served meanwhile"
stop_daemon

# ---- no threads left: the daemon drops the connection and lives
W=$(mktemp -d /tmp/ktsync-daemon-limits.XXXXXX)
chmod 755 "$W"
at_exit "rm -rf '$W'"
cp -a "$ROOT" "$W/root"
install -o nobody -m 600 "$SECRET" "$W/secret"
install -d -o nobody -m 700 "$W/state"
DPORT=$(free_port)
prlimit --nproc=24:24 setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$KTSYNC" serve --listen "127.0.0.1:$DPORT" --root "$W/root" --secret-file "$W/secret" \
    --state-dir "$W/state" -v >"$T/daemon.nproc.log" 2>&1 &
DPID=$!
at_exit "kill $DPID 2>/dev/null; wait $DPID 2>/dev/null"
wait_port "$DPORT" 10 || die "the thread-limited daemon did not start"
hold 80 "$T/hold3" "${many[@]}"
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
