#!/usr/bin/env bash
# daemon_privileges_test.sh - what a secret holder may create on a daemon run as root:
#   * by default: no device nodes (a per-entry error, exit 23, nothing else refused), no
#     setuid/setgid bits (kept without them, with a warning naming the file), no
#     security.* xattrs (file capabilities), every file owned by the daemon's user; a
#     setgid directory and user.* xattrs are kept; a dry run reports the same; a rerun
#     changes nothing and says the same again; a refused device leaves a directory DST has
#     at its path whole, even with --delete-on-error;
#   * --allow-devices --allow-setid --allow-owners: the copy is identical to SRC;
#   * --user nobody: the daemon binds as root, then runs as nobody (its /proc status says
#     so) and files it writes belong to nobody;
#   * the limits belong to a daemon: `serve --stdio --allow-devices` is a usage error.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { note "needs root (device nodes, other owners)"; exit 0; }

new_secret
stop_daemon() { kill "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null || true; }
xattr_names() { python3 -c 'import os, sys; print(" ".join(sorted(os.listxattr(sys.argv[1]))))' "$1"; }
owner_mode() { stat -c '%u:%g %a %F' "$1"; }

SRC=$T/src
mkdir -p "$SRC/bin" "$SRC/dev" "$SRC/shared"
echo data >"$SRC/plain"
mknod "$SRC/dev/loop0" b 7 0
mknod "$SRC/dev/mem" c 1 1
chmod 666 "$SRC/dev/loop0" "$SRC/dev/mem"
cp /bin/true "$SRC/bin/rootshell"
chmod 4755 "$SRC/bin/rootshell"
cp /bin/true "$SRC/bin/groupshell"
chmod 2755 "$SRC/bin/groupshell"
cp /bin/true "$SRC/bin/capable"
python3 -c 'import os, struct, sys; os.setxattr(sys.argv[1], "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 21, 0, 0, 0))' "$SRC/bin/capable"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.note", b"kept")' "$SRC/bin/capable"
echo theirs >"$SRC/foreign"
chown 12345:23456 "$SRC/foreign"
chmod 2775 "$SRC/shared"

# ---- a default daemon run as root
ROOT=$T/root
mkdir "$ROOT"
start_daemon "$ROOT"
URL=ktsync://127.0.0.1:$DPORT

assert_exit 23 kd -n -i "$SRC" "$URL/dst"
assert_contains "$ERR" "dev/mem: device node not created" "dry run: the device is refused, as a real run would"
[[ ! -e $ROOT/dst ]] && pass "dry run changed nothing" || die "dry run created $ROOT/dst"

assert_exit 23 kd "$SRC" "$URL/dst"
for d in dev/loop0 dev/mem; do
    assert_contains "$ERR" "$d: device node not created" "$d refused by name"
    [[ ! -e $ROOT/dst/$d ]] && pass "$d not created" || die "$d exists: $(owner_mode "$ROOT/dst/$d")"
done
assert_contains "$ERR" "--allow-devices" "the error names the option that would allow devices"
assert_contains "$ERR" "bin/rootshell: kept without its setuid/setgid bits" "the setuid file is named"
assert_eq "0:0 755 regular file" "$(owner_mode "$ROOT/dst/bin/rootshell")" "setuid bit stripped"
assert_eq "0:0 755 regular file" "$(owner_mode "$ROOT/dst/bin/groupshell")" "setgid bit stripped"
assert_eq "user.note" "$(xattr_names "$ROOT/dst/bin/capable")" "security.capability not set, user.* kept"
assert_contains "$ERR" "security.*" "the dropped capability is warned of"
assert_eq "0:0 644 regular file" "$(owner_mode "$ROOT/dst/foreign")" "a foreign owner becomes the daemon's user"
assert_contains "$ERR" "owners and groups not kept" "the owner loss is said once"
assert_eq "0:0 2775 directory" "$(owner_mode "$ROOT/dst/shared")" "a setgid directory is kept"
cmp -s "$SRC/plain" "$ROOT/dst/plain" && pass "plain data copied" || die "plain differs"

inode_ctime_snapshot "$ROOT/dst" >"$T/snap0"
assert_exit 23 kd -i "$SRC" "$URL/dst"
assert_contains "$ERR" "dev/mem: device node not created" "rerun: the same refusal"
inode_ctime_snapshot "$ROOT/dst" >"$T/snap1"
assert_eq "" "$(snapshot_changed "$T/snap0" "$T/snap1")" "rerun: nothing on the daemon changed"

# A refused device where DST has a directory: the directory stays with all it holds, even
# when the deletions run despite the error.
mkdir -p "$ROOT/dst/dev/mem/sub"
echo mine >"$ROOT/dst/dev/mem/sub/file"
assert_exit 23 kd --delete-on-error -i "$SRC" "$URL/dst"
assert_contains "$ERR" "dev/mem: device node not created" "refused over a directory"
grep -qF "dev/mem/" "$OUT" && die "listed beneath the refused device: $(cat "$OUT")" || pass "nothing beneath the refused device's path is listed"
[[ -f $ROOT/dst/dev/mem/sub/file ]] && pass "the directory's subtree is kept" || die "dev/mem/sub/file deleted"
stop_daemon

# ---- everything allowed: identical
rm -rf "$ROOT"
mkdir "$ROOT"
start_daemon "$ROOT" --allow-devices --allow-setid --allow-owners
URL=ktsync://127.0.0.1:$DPORT
assert_exit 0 kd "$SRC" "$URL/dst"
tree_identical "$SRC" "$ROOT/dst" && pass "allowed: the daemon's copy is identical to SRC"
stop_daemon

# ---- --user nobody
rm -rf "$ROOT"
mkdir "$ROOT"
chown nobody:nogroup "$ROOT"
chmod 755 "$T"
rm -rf "$T/state-daemon"
mkdir -m 700 "$T/state-daemon"
chown nobody "$T/state-daemon"
start_daemon "$ROOT" --user nobody
assert_eq "$(id -u nobody)" "$(awk '/^Uid:/ {print $3}' "/proc/$DPID/status")" "the daemon runs as nobody"
URL=ktsync://127.0.0.1:$DPORT
assert_exit 23 kd "$SRC" "$URL/dst"
assert_eq "$(id -u nobody):$(id -g nobody) 644 regular file" "$(owner_mode "$ROOT/dst/plain")" "files belong to nobody"
stop_daemon

# ---- the limits are a daemon's
assert_exit 1 "$KTSYNC" serve --stdio --allow-devices
assert_contains "$ERR" "are for a daemon" "serve --stdio refuses --allow-devices"
assert_exit 1 "$KTSYNC" serve --listen 127.0.0.1:0 --root "$ROOT" --secret-file "$SECRET" --user no-such-user-kt
assert_contains "$ERR" "no-such-user-kt: no such user" "an unknown --user is named"
