#!/usr/bin/env bash
# The first-mirror guard (issue 15: `ktsync mirror ~/project ~` deleted the home directory's
# other files): a first mirror into a non-empty DST ktsync never mirrored into, that would
# delete more than 10 entries and more than half of it, stops before changing anything
# (exit 25, one line naming DST, the count and how to go on) - locally, pulled and pushed
# over ssh, and pushed to a daemon; a dry run says the same. --force-delete, `ktsync copy`
# and --no-delete go on; a DST mirrored into before has no guard; a few leftovers pass; a
# DST made again at the same path, or whose state was removed, is a first mirror again.
source "$(dirname "$0")/lib.sh"

STATE=$T/state
km() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$@"; }
kc() { "$KTSYNC" copy --state-dir "$STATE" --no-progress "$@"; }
PROJECT=$T/project
mkdir -p "$PROJECT/src"
for i in 1 2 3; do echo "p$i" >"$PROJECT/src/p$i"; done

# home_like DIR: a tree that is no mirror of PROJECT: 29 entries, none in PROJECT.
home_like() {
    rm -rf "$1"
    mkdir -p "$1/docs"
    for i in $(seq 1 20); do echo "d$i" >"$1/docs/d$i"; done
    for i in $(seq 1 8); do echo "h$i" >"$1/.h$i"; done
}
# unchanged DIR WHAT: DIR is as home_like made it, with nothing of PROJECT in it.
unchanged() {
    inode_ctime_snapshot "$1" >"$T/after"
    assert_eq "" "$(snapshot_changed "$T/before" "$T/after")" "$2: no file of DST rewritten"
    assert_eq 30 "$(find "$1" | wc -l)" "$2: DST has all its entries and nothing new"
}
# refused WHAT: the last command's one-line refusal names the count, --force-delete and copy
# (a real run's adds that nothing was changed).
refused() {
    assert_eq 1 "$(wc -l <"$ERR")" "$1: one line"
    grep -q "refusing to mirror: 29 of the 29 entries in DST .* (100%) would be deleted, and ktsync has never mirrored into it" "$ERR" ||
        die "$1: refusal does not say what: $(cat "$ERR")"
    grep -q -- "--force-delete" "$ERR" && grep -q "ktsync copy" "$ERR" && grep -q -- "--no-delete" "$ERR" ||
        die "$1: refusal does not say how to go on: $(cat "$ERR")"
    pass "$1: refusal names DST, the count and share, --force-delete, ktsync copy and --no-delete"
}

# ---- local
H=$T/home
home_like "$H"
inode_ctime_snapshot "$H" >"$T/before"
assert_exit 25 km "$PROJECT" "$H"
refused "local first mirror"
unchanged "$H" "local refusal"
assert_exit 25 km -n "$PROJECT" "$H"
refused "local dry run"
unchanged "$H" "local dry run"
assert_exit 25 km --max-delete 100 "$PROJECT" "$H"
grep -q "never mirrored into it" "$ERR" || die "a --max-delete that holds still needs the guard: $(cat "$ERR")"
pass "--max-delete within its limit does not lift the guard"

assert_exit 0 kc "$PROJECT" "$H"
[[ -e $H/src/p1 && -e $H/docs/d1 && -e $H/.h1 ]] || die "copy deleted or did not copy"
pass "ktsync copy copies and keeps DST's other entries"
assert_exit 0 km --no-delete "$PROJECT" "$H"
assert_exit 25 km "$PROJECT" "$H"
grep -q "29 of the 33 entries" "$ERR" || die "copy or --no-delete recorded a mirror: $(cat "$ERR")"
pass "copy and --no-delete runs do not count as mirrors"

assert_exit 0 km --force-delete "$PROJECT" "$H"
tree_identical --no-root "$PROJECT" "$H"
pass "--force-delete mirrors"
home_like "$T/extra"
cp -a "$T/extra/." "$H/"
assert_exit 0 km "$PROJECT" "$H"
tree_identical --no-root "$PROJECT" "$H"
pass "a DST mirrored into before has no first-mirror guard"

# A few leftovers of an earlier copy go without a word.
L=$T/leftovers
cp -a "$PROJECT" "$L"
for i in 1 2 3; do echo "old$i" >"$L/old$i"; done
assert_exit 0 km "$PROJECT" "$L"
tree_identical --no-root "$PROJECT" "$L"
pass "a first mirror deleting a few leftovers runs"

# The record is for that directory: made again at the path, it is a first mirror again.
# (Made while the old one exists, so that it cannot get the old one's inode number.)
home_like "$T/new-home"
rm -rf "$H"
mv "$T/new-home" "$H"
inode_ctime_snapshot "$H" >"$T/before"
assert_exit 25 km "$PROJECT" "$H"
unchanged "$H" "DST made again at a mirrored path"
# Without state, an up-to-date mirror is compared first, and runs.
rm -rf "$STATE"
assert_exit 0 km "$PROJECT" "$L"
pass "a mirror whose state was removed runs (nothing to delete)"

# ---- ssh: pull (DST local) and push (DST on the remote, whose state records the mirror)
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
ks() { km -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@"; }
home_like "$T/pulled"
inode_ctime_snapshot "$T/pulled" >"$T/before"
assert_exit 25 ks "$SSH_HOST:$PROJECT" "$T/pulled"
refused "ssh pull"
unchanged "$T/pulled" "ssh pull refusal"
home_like "$T/pushed"
inode_ctime_snapshot "$T/pushed" >"$T/before"
assert_exit 25 ks "$PROJECT" "$SSH_HOST:$T/pushed"
refused "ssh push"
unchanged "$T/pushed" "ssh push refusal"
assert_exit 25 ks -n "$PROJECT" "$SSH_HOST:$T/pushed"
refused "ssh push dry run"
assert_exit 0 ks --force-delete "$PROJECT" "$SSH_HOST:$T/pushed"
tree_identical --no-root "$PROJECT" "$T/pushed"
cp -a "$T/extra/." "$T/pushed/"
assert_exit 0 ks "$PROJECT" "$SSH_HOST:$T/pushed"
tree_identical --no-root "$PROJECT" "$T/pushed"
pass "ssh push: refused, then forced, then guarded no more"

# ---- daemon push
new_secret
mkdir "$T/droot"
start_daemon "$T/droot"
home_like "$T/droot/h"
inode_ctime_snapshot "$T/droot/h" >"$T/before"
assert_exit 25 kd "$PROJECT" "ktsync://127.0.0.1:$DPORT/h"
refused "daemon push"
unchanged "$T/droot/h" "daemon push refusal"
assert_exit 0 kd "$PROJECT" "ktsync://127.0.0.1:$DPORT/h" --force-delete
tree_identical --no-root "$PROJECT" "$T/droot/h"
pass "daemon push: refused, then forced"
