#!/usr/bin/env bash
# netns_mirror_test.sh - a daemon and a client in two network namespaces created here,
# joined by a veth pair shaped to 200 Mbit/s with tbf: push ~40 MiB, pull it back, and
# check both the trees and that the data really crossed the shaped link.
#
# The 10.231.0.0/24 addresses exist only inside the two namespaces this test creates,
# so nothing leaves the machine.  Everything is removed at exit.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

NSA=ktsyncA$$          # daemon side
NSB=ktsyncB$$          # client side
VA=ktvA$$              # veth end in NSA (names <= 15 bytes)
VB=ktvB$$              # veth end in NSB
ADDR_A=10.231.0.1
ADDR_B=10.231.0.2
PORT=7373
RATE_BYTES=25000000    # 200 Mbit/s

SECRET=$T/secret
head -c 32 /dev/urandom | base64 >"$SECRET"
chmod 600 "$SECRET"

# ---- namespaces, veth, shaping
at_exit "ip link del $VA 2>/dev/null"      # only left if moving it into NSA failed
for ns in "$NSA" "$NSB"; do
    ip netns add "$ns" 2>"$ERR" ||
        die "cannot create network namespace $ns (needs root/CAP_SYS_ADMIN): $(cat "$ERR")"
    at_exit "ip netns del $ns 2>/dev/null"
done
ip link add "$VA" type veth peer name "$VB" 2>"$ERR" ||
    die "cannot create veth pair $VA/$VB: $(cat "$ERR")"
ip link set "$VA" netns "$NSA"
ip link set "$VB" netns "$NSB"
ip -n "$NSA" addr add "$ADDR_A/24" dev "$VA"
ip -n "$NSB" addr add "$ADDR_B/24" dev "$VB"
# tbf on each end's egress: the client's shapes pushes, the daemon's shapes pulls.
for ns in "$NSA" "$NSB"; do
    dev=$VA
    [[ $ns == "$NSB" ]] && dev=$VB
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "$dev" up
    ip netns exec "$ns" tc qdisc add dev "$dev" root tbf rate 200mbit burst 256kb latency 50ms
done
pass "namespaces $NSA/$NSB joined by $VA/$VB, tbf 200mbit on both ends"

# report_rate WHAT JSON_FILE WALL_SECONDS: print the rate; fail if above the shaped rate.
report_rate() {
    local what=$1 json=$2 wall=$3
    python3 - "$what" "$json" "$wall" "$RATE_BYTES" <<'EOF' >"$T/rate" || die "$(cat "$T/rate")"
import json, sys
what, fn, wall, limit = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = [json.loads(l) for l in open(fn) if l.strip() and json.loads(l).get("event") == "summary"][-1]
sent, wire, xfer = s["bytes_sent"], s["wire_bytes"], s["seconds"]["transfer"]
rate, wall_rate = wire / xfer, sent / wall
print("%s: %d payload bytes, %d wire bytes in %.2f s transfer (%.2f s wall): "
      "%.1f MB/s on the wire, %.1f MB/s payload by wall clock (shaped to %.0f MB/s)"
      % (what, sent, wire, xfer, wall, rate / 1e6, wall_rate / 1e6, limit / 1e6))
if sent < 38 * 2**20:
    print("only %d bytes were sent; expected the whole ~40 MiB tree" % sent)
    sys.exit(1)
# tbf lets 'burst' through at line rate; allow 8% over for it and timer slack.
if rate > limit * 1.08 or wall_rate > limit * 1.08:
    print("faster than the 200 Mbit/s shaping: the data did not cross the veth")
    sys.exit(1)
EOF
    pass "$(cat "$T/rate")"
}

SRC=$T/src
ROOT=$T/root
mkdir "$ROOT"
python3 "$GEN_TREE" "$SRC" --big-mib 35
note "tree: $(du -sb "$SRC" | cut -f1) bytes"

# ---- the daemon in NSA
# `ip netns exec` execs the command, so $! is the daemon itself (a shell function here
# would leave a subshell in between and the kill at exit would orphan the daemon).
ip netns exec "$NSA" "$KTSYNC" serve --listen "$ADDR_A:$PORT" --root "$ROOT" \
    --secret-file "$SECRET" --state-dir "$T/state-daemon" -v >"$T/daemon.log" 2>&1 &
DPID=$!
at_exit "kill $DPID 2>/dev/null; wait $DPID 2>/dev/null"
up=0
for _ in $(seq 100); do
    if in_ns "$NSB" bash -c "exec 3<>/dev/tcp/$ADDR_A/$PORT" 2>/dev/null; then
        up=1
        break
    fi
    kill -0 "$DPID" 2>/dev/null || break
    sleep 0.1
done
((up)) && pass "daemon in $NSA reachable from $NSB at $ADDR_A:$PORT" ||
    die "daemon not reachable from $NSB: $(tail -n 5 "$T/daemon.log")"

kd() {
    in_ns "$NSB" "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" "$@"
}

# ---- push from NSB to the daemon in NSA, through the shaped veth
sent0=$(tbf_sent "$NSB" "$VB")
t0=$(date +%s.%N)
assert_exit 0 kd --json "$SRC" "ktsync://$ADDR_A:$PORT/dst"
wall=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
cp "$OUT" "$T/push.json"
tree_identical "$SRC" "$ROOT/dst" && pass "push across namespaces: identical"
report_rate push "$T/push.json" "$wall"
sent1=$(tbf_sent "$NSB" "$VB")
(( sent1 - sent0 >= 38 * 1024 * 1024 )) &&
    pass "client-side tbf qdisc carried $((sent1 - sent0)) bytes" ||
    die "client-side tbf carried only $((sent1 - sent0)) bytes"

# ---- pull it back into NSB
sent0=$(tbf_sent "$NSA" "$VA")
t0=$(date +%s.%N)
assert_exit 0 kd --json "ktsync://$ADDR_A:$PORT/dst" "$T/pulled"
wall=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
cp "$OUT" "$T/pull.json"
tree_identical "$SRC" "$T/pulled" && pass "pull across namespaces: identical"
report_rate pull "$T/pull.json" "$wall"
sent1=$(tbf_sent "$NSA" "$VA")
(( sent1 - sent0 >= 38 * 1024 * 1024 )) &&
    pass "daemon-side tbf qdisc carried $((sent1 - sent0)) bytes" ||
    die "daemon-side tbf carried only $((sent1 - sent0)) bytes"
note "streams: push $(json_field "$T/push.json" summary streams), pull $(json_field "$T/pull.json" summary streams)"
