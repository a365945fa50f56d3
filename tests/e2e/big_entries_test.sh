#!/usr/bin/env bash
# big_entries_test.sh - mirrors of a tree whose entries are as large as ext4 lets them be
# (paths of ~1 KiB, a 3.9 KiB attribute on every file): 3000 of them are ~15 MB of entry
# bytes, more than the 8 MiB byte credit a destination grants (docs/protocol.md, Credit).
# DST holds every file with the same size and another mtime, so every pair waits for
# content hashes while the source runs out of credit: the destination must resolve them
# then, or both ends wait on each other. Local, ssh push and pull, daemon push and pull;
# each run must finish (timeout) with DST identical to SRC, attributes included.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

SRC=$T/src
N=3000

# make_tree DIR FILL: N files under four levels of 200-byte names, each with user.big; FILL
# is their content's byte (same size whatever it is), mtimes a day apart per tree.
make_tree() {
    python3 - "$1" "$2" "$N" <<'PY'
import os, sys
root, fill, n = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
deep = os.path.join(root, *[c * 200 for c in "abcd"])
os.makedirs(deep)
stamp = 1_600_000_000 + (86400 if fill == b"s" else 0)
for i in range(n):
    p = os.path.join(deep, "f%05d" % i)
    with open(p, "wb") as f:
        f.write(fill * (100 + i % 7))
    os.setxattr(p, "user.big", (b"%05d" % i) * 780)
    os.utime(p, (stamp, stamp))
PY
}

make_tree "$SRC" s
# fresh_dst DIR: DST with every file of the same size, other content and mtime.
fresh_dst() {
    rm -rf "$1"
    make_tree "$1" d
}

fresh_dst "$T/local"
assert_exit 0 timeout 300 "$KTSYNC" mirror --state-dir "$T/state" --no-progress -aX "$SRC/" "$T/local/"
tree_identical "$SRC" "$T/local" && pass "local: DST identical to SRC"

new_secret
mkdir -p "$T/droot"
start_daemon "$T/droot"
fresh_dst "$T/droot/push"
assert_exit 0 timeout 300 "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --no-progress -aX "$SRC/" "ktsync://127.0.0.1:$DPORT/push/"
tree_identical "$SRC" "$T/droot/push" && pass "daemon push: DST identical to SRC"
fresh_dst "$T/pulled"
cp -a "$SRC" "$T/droot/pullsrc"
assert_exit 0 timeout 300 "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --no-progress -aX "ktsync://127.0.0.1:$DPORT/pullsrc/" "$T/pulled/"
tree_identical "$SRC" "$T/pulled" && pass "daemon pull: DST identical to SRC"

export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
fresh_dst "$T/sshpush"
assert_exit 0 timeout 300 "$KTSYNC" mirror --state-dir "$T/state" --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" -aX "$SRC/" "$SSH_HOST:$T/sshpush/"
tree_identical "$SRC" "$T/sshpush" && pass "ssh push: DST identical to SRC"
fresh_dst "$T/sshpull"
assert_exit 0 timeout 300 "$KTSYNC" mirror --state-dir "$T/state" --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" -aX "$SSH_HOST:$SRC/" "$T/sshpull/"
tree_identical "$SRC" "$T/sshpull" && pass "ssh pull: DST identical to SRC"

