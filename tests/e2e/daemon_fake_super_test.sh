#!/usr/bin/env bash
# daemon_fake_super_test.sh - serve --fake-super (fake_super.h): a daemon running as nobody
# keeps what only root could set in user.ktsync.stat, and gives it back:
#   * push as root of devices, a FIFO, setuid/setgid files, foreign owners, a mode-0000
#     file, hard links and user xattrs: on the daemon everything is nobody's, no device
#     nodes, no setid bits, each entry's real metadata in its attribute;
#   * a second push changes nothing on the daemon and itemizes nothing;
#   * a change of owner in SRC is itemized and recorded, still without a chown;
#   * a pull back as root is identical to SRC (symlink owners excepted, which Linux cannot
#     record in a user.* attribute: warned of);
#   * the attribute never shows as an xattr of a pulled entry.
# shellcheck source=lib.sh disable=SC2015
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { note "needs root (devices, owners)"; exit 0; }

new_secret
stat_xattr() { python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.ktsync.stat").decode())' "$1"; }

SRC=$T/src
mkdir -p "$SRC/dev" "$SRC/bin" "$SRC/home/alice"
mknod "$SRC/dev/loop0" b 7 0
mknod "$SRC/dev/null" c 1 3
chmod 666 "$SRC/dev/null"
mkfifo "$SRC/dev/pipe"
cp /bin/true "$SRC/bin/su"
chmod 4755 "$SRC/bin/su"
cp /bin/true "$SRC/bin/wall"
chown 0:5 "$SRC/bin/wall"
chmod 2755 "$SRC/bin/wall"
echo secret >"$SRC/home/alice/notes"
chmod 0000 "$SRC/home/alice/notes"
ln "$SRC/bin/su" "$SRC/bin/su-link"
python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.origin", b"kept")' "$SRC/home/alice/notes"
chown -R 12345:23456 "$SRC/home/alice"
chmod 0750 "$SRC/home/alice"
ln -s notes "$SRC/home/alice/link"
chown -h 12345:23456 "$SRC/home/alice/link"

ROOT=$T/root
mkdir "$ROOT"
chown nobody:nogroup "$ROOT"
chmod 755 "$T"
install -d -o nobody -m 700 "$T/state-daemon"
start_daemon "$ROOT" --user nobody --fake-super
URL=ktsync://127.0.0.1:$DPORT

assert_exit 0 kd "$SRC" "$URL/tree"
assert_contains "$ERR" "symlinks (e.g. home/alice/link) keep this daemon's owner" "the symlink owner loss is warned of"
nobody=$(id -u nobody)
bad=$(find "$ROOT/tree" ! -uid "$nobody" -printf '%P ')
[[ -z $bad ]] && pass "on the daemon every entry is nobody's" || die "not nobody's: $bad"
bad=$(find "$ROOT/tree" \( -type b -o -type c -o -type p -o -perm -4000 -o -perm -2000 \) -printf '%P ')
[[ -z $bad ]] && pass "no device nodes, FIFOs or setid bits on the daemon" || die "privileged on disk: $bad"
assert_eq "6 666 0:0 $((1 << 8 | 3))" "$(stat_xattr "$ROOT/tree/dev/null")" "dev/null: type, mode, owner and rdev recorded"
assert_eq "1 4755 0:0" "$(stat_xattr "$ROOT/tree/bin/su")" "bin/su: setuid recorded, not set"
assert_eq "1 0 12345:23456" "$(stat_xattr "$ROOT/tree/home/alice/notes")" "a mode-0000 foreign file recorded"
assert_eq 600 "$(stat -c %a "$ROOT/tree/home/alice/notes")" "and readable by the daemon on disk"

inode_ctime_snapshot "$ROOT/tree" >"$T/snap0"
assert_exit 0 kd -i "$SRC" "$URL/tree"
assert_eq "" "$(itemized_paths "$OUT")" "a second push itemizes nothing"
inode_ctime_snapshot "$ROOT/tree" >"$T/snap1"
assert_eq "" "$(snapshot_changed "$T/snap0" "$T/snap1")" "and changes nothing on the daemon"

chown 4242 "$SRC/bin/wall"
chmod 2755 "$SRC/bin/wall"  # chown cleared it
assert_exit 0 kd -i "$SRC" "$URL/tree"
grep -qF "bin/wall" "$OUT" && pass "an owner change is itemized" || die "bin/wall not itemized: $(cat "$OUT")"
assert_eq "1 2755 4242:5" "$(stat_xattr "$ROOT/tree/bin/wall")" "and recorded"
assert_eq "$nobody" "$(stat -c %u "$ROOT/tree/bin/wall")" "without a chown"

assert_exit 0 kd "$URL/tree" "$T/back"
tree_identical --skip home/alice/link "$SRC" "$T/back" && pass "pulled back as root: identical to SRC"
assert_eq notes "$(readlink "$T/back/home/alice/link")" "the symlink itself came back"
python3 -c 'import os, sys; sys.exit("user.ktsync.stat" in os.listxattr(sys.argv[1]))' "$T/back/home/alice/notes" &&
    pass "the attribute is not mirrored as an xattr" || die "user.ktsync.stat leaked into the pull"
