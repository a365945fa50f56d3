#!/usr/bin/env bash
# rsync_options_test.sh - rsync is the oracle for the rsync options ktsync shares (issue 15):
# for each option, a fresh SRC and a stale DST (built alike per case) go through
# `rsync -aHAX --delete OPTION` and `ktsync mirror OPTION`, and the two resulting trees are
# compared entry by entry (tree_identical). The transfer rules (-u, --ignore-existing,
# --existing, --size-only, --modify-window, --max-size, --min-size), --chmod, --chown,
# --safe-links and the spellings ktsync accepts as no-ops (-avz, -rlptgoD, -P ...) run
# locally; the rules that travel in the Request are pushed over ssh too, and a daemon
# without --allow-owners keeps its own owner whatever --chown says; -a run as nobody keeps
# nobody's own owner, as rsync does. rsync options that
# make no sense in ktsync fail with one line saying what to use instead.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || die "rsync not found"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

T0=1600000000  # mtimes are fixed, so "newer" and "older" mean the same to both tools

# put PATH CONTENT MTIME [MODE]: a regular file.
put() {
    mkdir -p "$(dirname "$1")"
    printf '%s' "$2" >"$1"
    touch -d "@$3" "$1"
    chmod "${4:-644}" "$1"
}

# make_case DIR: DIR/src and DIR/dst, DST stale in every way the options look at.
make_case() {
    local w=$1
    rm -rf "$w"
    mkdir -p "$w/src/d/sub" "$w/src/new_dir" "$w/dst/d/sub" "$w/dst/typed"
    put "$w/src/same" "same" $T0
    put "$w/dst/same" "same" $T0
    put "$w/src/dst_newer" "src" $T0
    put "$w/dst/dst_newer" "dst is newer" $((T0 + 100))
    put "$w/src/dst_older" "src is newer" $((T0 + 100))
    put "$w/dst/dst_older" "dst" $T0
    put "$w/src/same_size" "AAAA" $((T0 + 50))
    put "$w/dst/same_size" "BBBB" $T0
    put "$w/src/window" "CCCC" $((T0 + 3))  # 3 s apart: equal with --modify-window=5
    put "$w/dst/window" "DDDD" $T0
    put "$w/src/same_time_other_size" "longer" $T0
    put "$w/dst/same_time_other_size" "short" $T0
    head -c 204800 /dev/zero | tr '\0' x >"$w/src/big"
    touch -d "@$T0" "$w/src/big"
    put "$w/src/small" "tiny" $T0
    put "$w/src/exec.sh" "#!/bin/sh" $T0 755
    put "$w/src/d/private" "p" $T0 600
    put "$w/src/new_dir/inside" "n" $T0
    put "$w/src/d/sub/deep" "deep" $T0
    put "$w/src/typed" "a file where DST has a directory" $T0
    put "$w/dst/typed/x" "x" $T0
    put "$w/dst/only_in_dst" "gone" $T0
    ln -s same "$w/src/link_safe"
    ln -s ../../same "$w/src/d/sub/link_safe_up"
    ln -s ../outside "$w/src/link_out"
    ln -s /etc/passwd "$w/src/link_abs"
    ln -s ../../../x "$w/src/d/sub/link_out_deep"
    put "$w/dst/link_abs" "DST's own file where SRC has an unsafe link" $T0
    chmod 755 "$w/src/d" "$w/src/d/sub" "$w/src/new_dir"
    touch -d "@$T0" "$w/src/d/sub" "$w/src/d" "$w/src/new_dir" "$w/src" "$w/dst/d/sub" "$w/dst/d" "$w/dst/typed" "$w/dst"
}

# compare NAME R K OPTION...: rsync's DST R and ktsync's K are the same. rsync 3.5 leaves
# the mtime of a symlink with ".." or "/" in its target as it was created (it will not
# touch one), so symlink times are set alike first (oracle_test compares them).
compare() {
    local name=$1 r=$2 k=$3
    shift 3
    find "$r" "$k" -type l -exec touch -h -d "@$T0" {} +
    tree_identical "$r" "$k" || die "$name: ktsync with $* differs from rsync -aHAX --delete $*"
}

# same_result NAME OPTION...: rsync and ktsync, locally, from one fresh case each.
same_result() {
    local name=$1 w=$T/$1
    shift
    make_case "$w"
    cp -a "$w/dst" "$w/r"
    cp -a "$w/dst" "$w/k"
    rsync -aHAX --delete "$@" "$w/src/" "$w/r/" >"$w/rsync.out" 2>&1 || die "$name: rsync $* failed: $(cat "$w/rsync.out")"
    "$KTSYNC" mirror --no-progress "$@" "$w/src/" "$w/k/" >"$w/ktsync.out" 2>&1 ||
        die "$name: ktsync mirror $* failed: $(cat "$w/ktsync.out")"
    compare "$name" "$w/r" "$w/k" "$@"
    pass "$name: ktsync mirror $* = rsync -aHAX --delete $*"
}

# same_result_pushed NAME OPTION...: as same_result, ktsync pushing over ssh.
same_result_pushed() {
    local name=$1 w=$T/$1-ssh
    shift
    make_case "$w"
    cp -a "$w/dst" "$w/r"
    cp -a "$w/dst" "$w/k"
    rsync -aHAX --delete "$@" "$w/src/" "$w/r/" >/dev/null 2>&1 || die "$name: rsync $* failed"
    "$KTSYNC" mirror --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@" "$w/src/" "$SSH_HOST:$w/k/" \
        >"$w/ktsync.out" 2>&1 || die "$name: ktsync push $* failed: $(cat "$w/ktsync.out")"
    compare "$name" "$w/r" "$w/k" "$@"
    pass "$name: ktsync push over ssh $* = rsync -aHAX --delete $*"
}

same_result plain
# Spellings ktsync accepts: what rsync -a does is what ktsync always does.
same_result archive_z -avz
same_result archive_long -rlptgoD --whole-file --sparse
same_result partial_progress -aP --info=progress2
same_result human -avh --delete-after
# Transfer rules.
same_result update -u
same_result ignore_existing --ignore-existing
same_result existing --existing
same_result size_only --size-only
same_result modify_window --modify-window=5
same_result max_size --max-size=100K
same_result min_size --min-size=1K
same_result max_size_units --max-size=1KB
same_result update_and_existing -u --existing
# What DST gets instead of SRC's own.
same_result chmod_symbolic --chmod=Dg+s,ug+w,Fo-w,+X
same_result chmod_octal --chmod=D750,F640
same_result chmod_twice --chmod=u=rwx --chmod=go=
same_result chown --chown=nobody:nogroup
same_result chown_group_only --chown=:nogroup
same_result safe_links --safe-links
# Over ssh: they travel in the Request and are applied by the remote end.
same_result_pushed update -u
same_result_pushed max_size --max-size=100K --existing
same_result_pushed chmod --chmod=Dg+s,Fo-w,+X --chown=nobody:nogroup
same_result_pushed safe_links --safe-links --size-only

# A daemon without --allow-owners keeps its own owner whatever --chown asks (and says so);
# --chmod still applies, but cannot grant a setuid bit the daemon refuses.
new_secret
mkdir -p "$T/served"
start_daemon "$T/served"
make_case "$T/daemon"
assert_exit 0 kd --chown=nobody:nogroup --chmod=u+s,go-w "$T/daemon/src/" "ktsync://127.0.0.1:$DPORT/k"
assert_contains "$ERR" "owners and groups not kept" "a daemon without --allow-owners says it keeps its own owner"
[[ $(stat -c %U:%G "$T/served/k/same") == root:root ]] || die "--chown reached a daemon without --allow-owners"
[[ $(stat -c %a "$T/served/k/exec.sh") == 755 ]] || die "--chmod u+s granted a setuid bit the daemon refuses"
pass "daemon: --chown stripped without --allow-owners, --chmod cannot grant setuid"

# -a (-o) run by a user who is not root: files belong to that user, whoever owns SRC's;
# rsync says nothing of the owners it cannot set, and neither does ktsync.
N=$(mktemp -d /tmp/ktsync-nobody.XXXXXX)
chmod 755 "$N"
mkdir -p "$N/src/d" "$N/k" "$N/r" "$N/state"
echo a >"$N/src/f"
echo b >"$N/src/d/g"
chown -R 12345:23456 "$N/src"
chmod -R a+rX "$N/src"
chown nobody:nogroup "$N/k" "$N/r" "$N/state"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$N/state" "$@"; }
owners() { (cd "$1" && find . -mindepth 1 -printf '%P %u:%g %m\n' | sort); }
assert_exit 0 as_nobody rsync -a "$N/src/" "$N/r/dst/"
[[ ! -s $ERR ]] || die "rsync -a as nobody said: $(cat "$ERR")"
assert_exit 0 as_nobody "$KTSYNC" mirror -a --no-progress --state-dir "$N/state" "$N/src" "$N/k/dst"
[[ ! -s $ERR ]] || die "ktsync -a as nobody said: $(cat "$ERR")"
assert_eq "$(owners "$N/r/dst")" "$(owners "$N/k/dst")" "-a as nobody: the same owners and modes as rsync's"
[[ $(stat -c %U "$N/k/dst/d/g") == nobody ]] || die "not nobody's: $(stat -c %U "$N/k/dst/d/g")"
pass "-a as nobody keeps nobody's own owner, silently, as rsync does"
rm -rf "$N"

# rsync options that make no sense here: one line, exit 1, what to do instead.
make_case "$T/refused"
for opt in --inplace --append --partial-dir=.p --delay-updates -b --backup-dir=old --link-dest=x -R \
    --remove-source-files --compress-choice=lz4 --info=name -k -K -avk; do
    assert_exit 1 "$KTSYNC" mirror "$opt" "$T/refused/src/" "$T/refused/dst/"
    [[ $(wc -l <"$ERR") -eq 1 ]] || die "$opt: expected one line, got: $(cat "$ERR")"
    assert_contains "$ERR" "ktsync" "$opt says what ktsync does instead"
done
[[ -f $T/refused/dst/only_in_dst ]] || die "a refused run changed DST"
pass "refused rsync options leave DST untouched"
