#!/usr/bin/env bash
# daemon_idle_test.sh - serve --idle-timeout ends sessions whose client went silent, never
# busy ones: with --idle-timeout 30,
#   * a push whose data takes ~40 s (--bwlimit), during which its control channel carries
#     nothing but keepalives, completes and is identical;
#   * a client stopped (SIGSTOP) in the middle of its push has its session ended by the
#     daemon after ~30 s (exit 30 in the daemon's log), which frees its slot and leaves no
#     partial file under a final name; resumed, the client fails instead of hanging;
#   * --idle-timeout below 30 is a usage error.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

new_secret
# exec: a background `kd ... &` is then ktsync itself, the process SIGSTOP must reach.
kd() { exec "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --no-progress "$@"; }

mkdir -p "$T/busy" "$T/stalled" "$T/root"
head -c $((40 << 20)) /dev/urandom >"$T/busy/big"
head -c $((40 << 20)) /dev/urandom >"$T/stalled/big"
start_daemon "$T/root" --idle-timeout 30 --max-connections 2
URL=ktsync://127.0.0.1:$DPORT

t0=$(date +%s)
kd --bwlimit 1M "$T/busy" "$URL/busy" >"$T/busy.out" 2>"$T/busy.err" &
busy=$!
kd --bwlimit 1M "$T/stalled" "$URL/stalled" >"$T/stalled.out" 2>"$T/stalled.err" &
stalled=$!
wait_in_flight "$T/root/stalled" || die "the second push never started its data"
kill -STOP "$stalled"
at_exit "kill -CONT $stalled 2>/dev/null; kill $stalled 2>/dev/null"
note "stopped the second client at $(($(date +%s) - t0)) s"

for _ in $(seq 60); do
    grep -q "session ended with exit code 30" "$T/daemon.$DPORT.log" && break
    sleep 1
done
ended=$(($(date +%s) - t0))
grep -q "session ended with exit code 30" "$T/daemon.$DPORT.log" ||
    die "the stopped client's session was not ended: $(tail -5 "$T/daemon.$DPORT.log")"
((ended >= 30)) || die "the session was ended after $ended s, before the 30 s idle timeout"
pass "the stopped client's session ended after ~$ended s (idle timeout 30)"
[[ ! -e $T/root/stalled/big ]] && pass "no partial file under its final name" || die "stalled/big exists"

rc=0
wait "$busy" || rc=$?
took=$(($(date +%s) - t0))
assert_eq 0 "$rc" "the busy push (${took} s, longer than the idle timeout) completed"
((took > 30)) || die "the busy push took only $took s: it did not outlast the idle timeout"
tree_identical "$T/busy" "$T/root/busy" && pass "and its copy is identical"

kill -CONT "$stalled"
rc=0
timeout 60 tail --pid="$stalled" -f /dev/null || die "the resumed client hangs"
wait "$stalled" || rc=$?
((rc != 0)) && pass "the resumed client fails (exit $rc): $(tail -n 1 "$T/stalled.err")" ||
    die "the resumed client reported success"

assert_exit 1 "$KTSYNC" serve --listen 127.0.0.1:0 --root "$T/root" --secret-file "$SECRET" --idle-timeout 5
pass "--idle-timeout 5 is refused"
