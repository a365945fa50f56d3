#!/usr/bin/env bash
# daemon_modules_test.sh - serve --config: named modules, each with its own secret, access
# and session cap (serve_config.h):
#   * a client reaches a module with that module's secret only (another module's secret,
#     or an unknown module: exit 40), and its paths stay inside the module (../ refused);
#   * a write-only module takes pushes and refuses pulls;
#   * max sessions = 1: a second client of the module is told it is busy (exit 5), while
#     another module still serves;
#   * contrib/serve.conf.example, with its paths made the test's, serves, also with
#     --listen PORT; SIGTERM stops it with its own line, not a client's "interrupted";
#   * config mistakes stop the daemon with one line naming the file, line or module.
# shellcheck source=lib.sh disable=SC2015
source "$(dirname "$0")/lib.sh"

for k in a b; do
    head -c 32 /dev/urandom | base64 >"$T/$k.secret"
    chmod 600 "$T/$k.secret"
done
mkdir -p "$T/photos" "$T/backup" "$T/src/d"
for i in 1 2 3; do echo "file $i" >"$T/src/d/f$i"; done
head -c $((3 << 20)) /dev/urandom >"$T/src/big"
cat >"$T/serve.conf" <<CONF
# photos: read and write; backup: clients may only push, one at a time
[photos]
path = $T/photos
secret file = $T/a.secret

[backup]
path = $T/backup
secret file = $T/b.secret
access = write-only
max sessions = 1
CONF
SECRET=$T/a.secret  # for start_daemon's log only: "-" passes none
start_daemon - --config "$T/serve.conf"
URL=ktsync://127.0.0.1:$DPORT
ka() { "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$T/a.secret" --no-progress "$@"; }
kb() { "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$T/b.secret" --no-progress "$@"; }

assert_exit 0 ka "$T/src" "$URL/photos/x"
tree_identical "$T/src" "$T/photos/x" && pass "module photos: push lands beneath its path"
assert_exit 0 ka "$URL/photos/x" "$T/pulled"
tree_identical "$T/src" "$T/pulled" && pass "module photos: pull"
assert_exit 40 ka "$T/src" "$URL/backup/x"
pass "photos' secret does not open backup"
assert_exit 40 ka "$T/src" "$URL/nope/x"
pass "an unknown module fails authentication"
assert_exit 0 kb "$T/src" "$URL/backup/y"
tree_identical "$T/src" "$T/backup/y" && pass "module backup: push with its own secret"
assert_fails kb "$URL/backup/y" "$T/nopull"
assert_contains "$ERR" "write-only" "module backup refuses a pull"
assert_fails ka "$T/src" "$URL/photos/../backup/z"
[[ ! -e $T/backup/z && ! -e $T/z ]] && pass "photos/../backup: refused, nothing created" || die "escaped its module"

kb --bwlimit 512K "$T/src" "$URL/backup/slow" >"$T/slow.out" 2>&1 &
slow=$!
wait_in_flight "$T/backup/slow" || die "the first backup push never started its data"
assert_exit 5 kb "$T/src" "$URL/backup/second"
assert_contains "$ERR" "module [backup] has its 1 sessions" "a second backup session is refused as busy"
assert_exit 0 ka "$T/src" "$URL/photos/meanwhile"
pass "photos serves meanwhile"
wait "$slow" || die "the first backup push failed: $(cat "$T/slow.out")"
tree_identical "$T/src" "$T/backup/slow" && pass "the first backup push completed"
stop_pid "$DPID"

# ---- the shipped example starts a daemon (its paths made ours)
chmod 600 "$T/b.secret"
sed -e "s|/srv/|$T/|" -e "s|/etc/ktsync/photos.secret|$T/a.secret|" -e "s|/etc/ktsync/laptops.secret|$T/b.secret|" \
    "$REPO/contrib/serve.conf.example" >"$T/example.conf"
mkdir -p "$T/laptops"
start_daemon - --config "$T/example.conf"
assert_exit 0 kb "$T/src" "ktsync://127.0.0.1:$DPORT/laptops/alice"
tree_identical "$T/src" "$T/laptops/alice" && pass "contrib/serve.conf.example works as documented"
stop_pid "$DPID"

# ---- --listen PORT (rsync's habit) listens on every address, not on a host named PORT
DPORT=$(free_port)
"$KTSYNC" serve --listen "$DPORT" --config "$T/example.conf" >"$T/bare.log" 2>&1 &
bare=$!
at_exit "kill $bare 2>/dev/null"
wait_port "$DPORT" 10 || die "serve --listen $DPORT did not listen: $(cat "$T/bare.log")"
assert_exit 0 kb "$T/src" "ktsync://127.0.0.1:$DPORT/laptops/bob"
pass "serve --listen $DPORT serves on 127.0.0.1:$DPORT"
stop_pid "$bare"
grep -q "ktsync serve: stopped by a signal" "$T/bare.log" && ! grep -q "interrupted" "$T/bare.log" &&
    pass "SIGTERM: the daemon says it stopped, not a client's 'interrupted'" || die "on SIGTERM: $(cat "$T/bare.log")"

# ---- mistakes in the config stop the daemon at once
bad() {  # bad NEEDLE CONFIG-TEXT
    printf '%s\n' "$2" >"$T/bad.conf"
    assert_exit 1 timeout 10 "$KTSYNC" serve --listen 127.0.0.1:0 --config "$T/bad.conf"
    assert_contains "$ERR" "$1" "config mistake reported: $1"
}
bad "bad.conf:3: unknown setting 'colour'" "[m]
path = $T/photos
colour = blue"
bad "module [m] has no secret file" "[m]
path = $T/photos"
chmod 644 "$T/b.secret"
bad "module [m]: " "[m]
path = $T/photos
secret file = $T/b.secret"
assert_exit 1 "$KTSYNC" serve --listen 127.0.0.1:0 --config "$T/serve.conf" --root "$T/photos"
assert_contains "$ERR" "drop --root" "--config with --root is a usage error"
