#!/usr/bin/env bash
# data_via_test.sh - the bulk data path when only ssh's port 22 is reachable.
#
# ktsync opens its data connections as direct TCP from the client to an ephemeral port on
# the ssh server. Behind a firewall that passes only port 22, or past a ProxyJump bastion,
# those connections cannot be made; `--data-via auto` (the default) must then carry the data
# inside the ssh connection and say so in the summary (data_path "ssh", data_path_why naming
# the direct attempt), `--data-via direct` must fail with exit 10 and change nothing, and
# `--data-via ssh` never tries direct. Three network namespaces made here:
#
#   CLI 10.232.1.1 --veth, tbf 100mbit both ends-- 10.232.1.2 SRV  (nftables: input accepts
#   CLI 10.232.2.1 --veth-- 10.232.2.2 JUMP                         only lo, established and
#                           JUMP 10.232.3.1 --veth-- 10.232.3.2 SRV  tcp dport 22)
#
# No forwarding anywhere, so CLI cannot reach 10.232.3.0/24 at all: only ssh -J through
# JUMP's sshd gets there. SRV's sshd refuses TCP forwarding, so the data cannot come
# through a forwarded port either: it must travel in the session's own channel. The
# 10.232.x addresses exist only inside these namespaces, so nothing leaves the machine;
# everything is removed at exit.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

NS_C=ktdvC$$           # client
NS_S=ktdvS$$           # ssh server, behind the firewall
NS_J=ktdvJ$$           # ProxyJump bastion
V_CS=ktdv1c$$          # veth CLI <-> SRV (names <= 15 bytes), shaped
V_SC=ktdv1s$$
V_CJ=ktdv2c$$          # veth CLI <-> JUMP
V_JC=ktdv2j$$
V_JS=ktdv3j$$          # veth JUMP <-> SRV
V_SJ=ktdv3s$$
ADDR_CS=10.232.1.1
ADDR_S=10.232.1.2      # SRV as CLI sees it (port 22 only)
ADDR_CJ=10.232.2.1
ADDR_J=10.232.2.2      # JUMP as CLI sees it
ADDR_JS=10.232.3.1
ADDR_SJ=10.232.3.2     # SRV as JUMP sees it; no route from CLI

command -v nft >/dev/null || die "nft not installed (scripts/setup.sh installs nftables)"
command -v tc >/dev/null || die "tc not installed (scripts/setup.sh installs iproute2)"

# ns_gone NS: end the processes left in NS (by id: only this test's run there), delete it.
ns_gone() {
    local pids i
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    if [[ -n ${pids// /} ]]; then
        # shellcheck disable=SC2086 # a list of pids
        kill $pids 2>/dev/null
        for ((i = 0; i < 20; i++)); do
            [[ -z $(ip netns pids "$1" 2>/dev/null) ]] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null
    fi
    ip netns del "$1" 2>/dev/null
}

# ---- namespaces, veths, shaping, firewall
for ns in "$NS_C" "$NS_S" "$NS_J"; do
    ip netns add "$ns" 2>"$ERR" ||
        die "cannot create network namespace $ns (needs root/CAP_SYS_ADMIN): $(cat "$ERR")"
    at_exit "ns_gone $ns"
    in_ns "$ns" ip link set lo up
    in_ns "$ns" sysctl -qw net.ipv4.ip_forward=0
done
# veth NS1 DEV1 ADDR1 NS2 DEV2 ADDR2: a veth pair made directly inside the two namespaces
# (nothing is left in ours if a step fails), addressed /24 and up.
veth() {
    ip link add "$2" netns "$1" type veth peer name "$5" netns "$4" 2>"$ERR" ||
        die "cannot create veth pair $2/$5: $(cat "$ERR")"
    in_ns "$1" ip addr add "$3/24" dev "$2"
    in_ns "$4" ip addr add "$6/24" dev "$5"
    in_ns "$1" ip link set "$2" up
    in_ns "$4" ip link set "$5" up
}
veth "$NS_C" "$V_CS" "$ADDR_CS" "$NS_S" "$V_SC" "$ADDR_S"
veth "$NS_C" "$V_CJ" "$ADDR_CJ" "$NS_J" "$V_JC" "$ADDR_J"
veth "$NS_J" "$V_JS" "$ADDR_JS" "$NS_S" "$V_SJ" "$ADDR_SJ"
# tbf on each end's egress of the CLI <-> SRV link (a later --compress check measures on it).
in_ns "$NS_C" tc qdisc add dev "$V_CS" root tbf rate 100mbit burst 256kb latency 50ms
in_ns "$NS_S" tc qdisc add dev "$V_SC" root tbf rate 100mbit burst 256kb latency 50ms
cat >"$T/firewall.nft" <<'EOF'
table inet ktsync_data_via {
    chain input {
        type filter hook input priority filter; policy drop;
        iif lo accept
        ct state established,related accept
        tcp dport 22 accept
    }
}
EOF
in_ns "$NS_S" nft -f - <"$T/firewall.nft" 2>"$ERR" ||
    die "cannot load the nftables ruleset in $NS_S: $(cat "$ERR")"
pass "namespaces $NS_C/$NS_S/$NS_J linked, tbf 100mbit on $V_CS/$V_SC, $NS_S passes only port 22"

# ---- sshd in SRV and in JUMP, one client key for both
# The remote `ktsync serve --stdio` gets none of our options; KTSYNC_STATE_DIR reaches it
# through the sshd's SetEnv, so no state lands in ~root.
export KTSYNC_STATE_DIR=$T/state-remote
SSH_USER=$(id -un)
mkdir -m 700 "$T/ssh"
[[ -d /run/sshd ]] || mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$T/ssh/client_key"

# ns_sshd NS NAME FORWARDING: a private sshd in NS on port 22 of all its IPv4 addresses
# (config, host key and log in $T/ssh-NAME; stopped at exit) accepting the client key, with
# AllowTcpForwarding FORWARDING and lib.sh's sshd_common_config. `ip netns exec` execs
# sshd, so $! is sshd itself.
# Sets SSHD_PID.
ns_sshd() {
    local ns=$1 d=$T/ssh-$2 fwd=$3
    mkdir -m 700 "$d"
    ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
    cp "$T/ssh/client_key.pub" "$d/authorized_keys"
    {
        echo "Port 22"
        echo "ListenAddress 0.0.0.0"
        echo "AllowTcpForwarding $fwd"
        sshd_common_config "$d"
    } >"$d/sshd_config"
    ip netns exec "$ns" /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
    SSHD_PID=$!
    at_exit "stop_pid $SSHD_PID"
}

# ns_wait_port NS ADDR PORT PID LOG: until ADDR:PORT accepts connections from inside NS
# (10 s), or PID died; dies with LOG's tail then.
ns_wait_port() {
    local i
    for ((i = 0; i < 100; i++)); do
        in_ns "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
        kill -0 "$4" 2>/dev/null || break
        sleep 0.1
    done
    die "$2:$3 not reachable from $1: $(tail -n 5 "$5" 2>/dev/null | tr '\n' ' ')"
}

ns_sshd "$NS_S" srv no
SRV_PID=$SSHD_PID
ns_sshd "$NS_J" jump yes
JUMP_PID=$SSHD_PID
ns_wait_port "$NS_C" "$ADDR_S" 22 "$SRV_PID" "$T/ssh-srv/sshd.log"
ns_wait_port "$NS_J" "$ADDR_SJ" 22 "$SRV_PID" "$T/ssh-srv/sshd.log"
ns_wait_port "$NS_C" "$ADDR_J" 22 "$JUMP_PID" "$T/ssh-jump/sshd.log"
note "sshd in $NS_S (pid $SRV_PID) on $ADDR_S:22 and $ADDR_SJ:22, in $NS_J (pid $JUMP_PID) on $ADDR_J:22"

# The direct command line, as a user writes it; and for ProxyJump a config file, since the
# jump hop's nested ssh reads the same -F file but none of the outer -o/-i options.
SSH_CMD="ssh -i $T/ssh/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10"
cat >"$T/ssh/config" <<EOF
Host $ADDR_J
    User $SSH_USER
Host *
    IdentityFile $T/ssh/client_key
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    BatchMode yes
    LogLevel ERROR
    ConnectTimeout 10
EOF
JUMP_CMD="ssh -F $T/ssh/config -o ProxyJump=$SSH_USER@$ADDR_J"

# cssh / jssh ARGS...: ssh from CLI, directly / through JUMP.
# shellcheck disable=SC2086 # SSH_CMD and JUMP_CMD are command lines by design
cssh() { in_ns "$NS_C" $SSH_CMD "$@" </dev/null; }
# shellcheck disable=SC2086
jssh() { in_ns "$NS_C" $JUMP_CMD "$@" </dev/null; }

# k / kj [OPTIONS...] SRC DST: ktsync mirror from CLI, directly / through JUMP. timeout(1)
# turns a hang (a direct attempt never given up) into exit 124 and a failed check.
k() {
    in_ns "$NS_C" timeout 150 "$KTSYNC" mirror --state-dir "$T/state" --no-progress \
        -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@"
}
kj() {
    in_ns "$NS_C" timeout 150 "$KTSYNC" mirror --state-dir "$T/state" --no-progress \
        -e "$JUMP_CMD" --remote-ktsync "$KTSYNC" "$@"
}

# data_path_is JSON WANT WHAT: the run's summary reports data_path WANT.
data_path_is() {
    assert_eq "$2" "$(json_field "$1" summary data_path)" "$3: summary data_path \"$2\""
}

# connect_rc NS ADDR PORT: exit status of a TCP connect from NS, given 3 s (124: timed
# out, i.e. the SYN was dropped; 1: refused or unreachable; 0: connected).
connect_rc() {
    local rc=0
    in_ns "$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null || rc=$?
    echo "$rc"
}

# ---- 1. the scaffold: ssh passes, nothing else does
assert_exit 0 cssh "$SSH_USER@$ADDR_S" true
rc=$(connect_rc "$NS_C" "$ADDR_S" 5000)
((rc == 124)) && pass "a TCP connect from $NS_C to $ADDR_S:5000 is dropped (timed out)" ||
    die "a TCP connect from $NS_C to $ADDR_S:5000 ended with $rc, wanted 124 (dropped by the firewall)"
rc=$(connect_rc "$NS_C" "$ADDR_SJ" 22)
((rc != 0)) && pass "$NS_C cannot reach $ADDR_SJ directly (connect exit $rc)" ||
    die "$NS_C reached $ADDR_SJ:22 directly: the JUMP-only path is not JUMP-only"
assert_exit 0 jssh "$SSH_USER@$ADDR_SJ" true

SRC=$T/src
mkdir -p "$T/srv"   # SRV's side of the trees (same filesystem, other namespace)
python3 "$GEN_TREE" "$SRC" --big-mib 1 >/dev/null
note "tree: $(du -sb "$SRC" | cut -f1) bytes"

# ---- 2. port 22 only, --data-via auto (the default): push, then pull back
assert_exit 0 k --json "$SRC" "$SSH_USER@$ADDR_S:$T/srv/dst"
cp "$OUT" "$T/auto-push.json"
tree_identical "$SRC" "$T/srv/dst" && pass "auto push through the firewall: identical" ||
    die "auto push through the firewall: trees differ"
data_path_is "$T/auto-push.json" ssh "auto push through the firewall"
why=$(json_field "$T/auto-push.json" summary data_path_why)
[[ $why == *"$ADDR_S"* ]] && pass "auto push: data_path_why names the direct attempt: $why" ||
    die "auto push: data_path_why '$why' does not name the direct attempt to $ADDR_S"

assert_exit 0 k --json "$SSH_USER@$ADDR_S:$T/srv/dst" "$T/back"
cp "$OUT" "$T/auto-pull.json"
tree_identical "$SRC" "$T/back" && pass "auto pull through the firewall: identical" ||
    die "auto pull through the firewall: trees differ"
data_path_is "$T/auto-pull.json" ssh "auto pull through the firewall"

# ---- 3. --data-via direct: exit 10, nothing changed on SRV
# listing: every entry under $T/srv (itself included) with its type, mode, size and mtime.
listing() { find "$T/srv" -printf '%y %m %s %T@ %P\n' | LC_ALL=C sort; }
listing >"$T/srv-before"
assert_exit 10 k --data-via direct "$SRC" "$SSH_USER@$ADDR_S:$T/srv/never"
assert_contains "$ERR" "--data-via" "--data-via direct: the error names --data-via"
listing >"$T/srv-after"
[[ ! -e $T/srv/never ]] && cmp -s "$T/srv-before" "$T/srv-after" &&
    pass "--data-via direct: nothing created or changed under SRV's \$T/srv" ||
    die "--data-via direct changed SRV: $(diff "$T/srv-before" "$T/srv-after" | head -5 | tr '\n' ' ')"

# ---- 4. --data-via ssh: never tries direct
assert_exit 0 k --json --data-via ssh "$SRC" "$SSH_USER@$ADDR_S:$T/srv/via-ssh"
cp "$OUT" "$T/ssh-push.json"
tree_identical "$SRC" "$T/srv/via-ssh" && pass "--data-via ssh push: identical" ||
    die "--data-via ssh push: trees differ"
data_path_is "$T/ssh-push.json" ssh "--data-via ssh push"

# ---- 5. ProxyJump: SRV's 10.232.3.2 is reachable only through JUMP's sshd
assert_exit 0 kj --json "$SRC" "$SSH_USER@$ADDR_SJ:$T/srv/jump"
cp "$OUT" "$T/jump-push.json"
tree_identical "$SRC" "$T/srv/jump" && pass "ProxyJump push: identical" ||
    die "ProxyJump push: trees differ"
data_path_is "$T/jump-push.json" ssh "ProxyJump push"
assert_exit 0 kj --json "$SSH_USER@$ADDR_SJ:$T/srv/jump" "$T/jump-back"
cp "$OUT" "$T/jump-pull.json"
tree_identical "$SRC" "$T/jump-back" && pass "ProxyJump pull: identical" ||
    die "ProxyJump pull: trees differ"
data_path_is "$T/jump-pull.json" ssh "ProxyJump pull"

# ---- 6. no firewall: auto goes direct over the shaped link
in_ns "$NS_S" nft flush ruleset
assert_exit 0 k --json --data-via auto "$SRC" "$SSH_USER@$ADDR_S:$T/srv/direct"
cp "$OUT" "$T/direct-push.json"
in_ns "$NS_S" nft -f - <"$T/firewall.nft"
tree_identical "$SRC" "$T/srv/direct" && pass "auto push without the firewall: identical" ||
    die "auto push without the firewall: trees differ"
data_path_is "$T/direct-push.json" direct "auto push without the firewall"

# ---- 7. -z over the 100 Mbit/s link (data inside ssh): same trees, fewer bytes crossing
# the shaped veth, and the ratio in the summary. Logs compress; a random file and a .jpg
# do not (sent as they are, not made bigger).
Z=$T/compressible
mkdir -p "$Z/logs" "$Z/media"
for i in $(seq 8); do
    seq 1 100000 | sed "s/\$/ GET \/api\/v1\/items?page=$i HTTP\/1.1 200/" >"$Z/logs/access$i.log"
done
head -c 2000000 /dev/urandom >"$Z/media/noise.bin"
head -c 1000000 /dev/urandom >"$Z/media/photo.jpg"
note "compressible tree: $(du -sb "$Z" | cut -f1) bytes"
# crossing CMD...: runs CMD; the bytes CLI put on the shaped veth meanwhile go to
# $T/crossed, the seconds it took to $T/took.
crossing() {
    local before after t0
    before=$(tbf_sent "$NS_C" "$V_CS")
    t0=$(date +%s.%N)
    "$@" || return
    awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $t0 }" >"$T/took"
    after=$(tbf_sent "$NS_C" "$V_CS")
    echo $((after - before)) >"$T/crossed"
}
crossing assert_exit 0 k --json "$Z" "$SSH_USER@$ADDR_S:$T/srv/plain"
plain=$(cat "$T/crossed") plain_s=$(cat "$T/took")
crossing assert_exit 0 k --json -z "$Z" "$SSH_USER@$ADDR_S:$T/srv/zstd"
cp "$OUT" "$T/z-push.json"
packed=$(cat "$T/crossed") packed_s=$(cat "$T/took")
tree_identical "$Z" "$T/srv/zstd" && pass "-z push: identical" || die "-z push: trees differ"
((packed * 2 < plain)) &&
    pass "-z push: $packed bytes crossed the link in $packed_s s, $plain in $plain_s s without -z" ||
    die "-z push: $packed bytes crossed the link, $plain without -z (wanted under half)"
ratio=$(json_field "$T/z-push.json" summary compression_ratio)
assert_eq 3 "$(json_field "$T/z-push.json" summary compress_level)" "-z push: summary compress_level"
python3 -c "import sys; sys.exit(0 if float('$ratio') > 2 else 1)" &&
    pass "-z push: summary compression_ratio $ratio" || die "-z push: compression_ratio $ratio, wanted > 2"
assert_exit 0 k -z --stats "$SSH_USER@$ADDR_S:$T/srv/zstd" "$T/z-back"
tree_identical "$Z" "$T/z-back" && pass "-z pull: identical" || die "-z pull: trees differ"
assert_contains "$OUT" "Compression: zstd level 3" "-z pull: --stats reports the compression"
