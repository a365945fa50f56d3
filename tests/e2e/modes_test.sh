#!/usr/bin/env bash
# modes_test.sh - one table of a copy's behaviours, run in every mode: local, push and pull
# over ssh, push and pull through a daemon. Local, push and pull are one pipeline, so a
# difference between modes is a bug: each case checks the same outcome (exit code, DST,
# the changes listed) in each mode, and the changes listed must be the same in every mode.
#
# Cases: a fresh mirror, the mutations of gen_tree.py (dry run lists exactly what the real
# run changes), retyped entries with subtrees both ways, hard links regrouped, an empty SRC
# (42) and a --max-delete limit (25) refused before anything changes; and, as nobody, a
# DST that cannot be fully listed (a failure, exit 23, never "vanished", and no deletion)
# and a SRC scan error after which the dry run lists no deletion, exactly as the real run
# then makes none.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SECRET=$T/secret
head -c 32 /dev/urandom | base64 >"$SECRET"
chmod 600 "$SECRET"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
nobody_workdir modes  # $W: the daemon serves it too
start_daemon "$W"
MODES=(local push pull daemon-push daemon-pull)

# run MODE [OPTIONS...]: mirror $W/src to $W/dst in MODE (as nobody, both ends, when
# $AS_NOBODY is 1; not for daemon modes).
AS_NOBODY=0
run() {
    local mode=$1
    shift
    local pre=() state=$T/state ssh=$SSH_CMD
    rm -f "$W/remote-as-nobody"
    if ((AS_NOBODY)); then
        pre=("${NOBODY[@]}")
        state=$W/state-nobody
        ssh=$NOBODY_SSH
        touch "$W/remote-as-nobody"
    fi
    local k=("${pre[@]}" "$KTSYNC" mirror --state-dir "$state" --no-progress --secret-file "$SECRET"
             -e "$ssh" --remote-ktsync "$W/remote-ktsync" "$@")
    local d=ktsync://127.0.0.1:$DPORT
    case $mode in
        local) "${k[@]}" "$W/src" "$W/dst" ;;
        push) "${k[@]}" "$W/src" "$SSH_HOST:$W/dst" ;;
        pull) "${k[@]}" "$SSH_HOST:$W/src" "$W/dst" ;;
        daemon-push) "${k[@]}" "$W/src" "$d/dst" ;;
        daemon-pull) "${k[@]}" "$d/src" "$W/dst" ;;
    esac
}

# settle_times: directories made by hand get one time in both trees, so what is listed
# does not depend on how fast the setup ran (timestamps are coarse).
settle_times() { find "$W/src" "$W/dst" -type d -exec touch -h -d @1600000000 {} +; }

# changes FILE: the "code path" lines of -i output, with '<'/'>' (the direction) as '>', sorted.
changes() {
    { grep -E '^([<>ch.][fdLDS][-+.a-z]{9}|\*deleting  ) ' "$1" || true; } | sed -E 's/^</>/' | LC_ALL=C sort
}

# each_mode NAME SETUP CHECK: for every mode, SETUP builds $W/src and $W/dst, then CHECK
# runs with $MODE set; the changes CHECK leaves in $T/changes.$MODE must match local's.
each_mode() {
    local name=$1 setup=$2 check=$3
    for MODE in "${MODES[@]}"; do
        if ((AS_NOBODY)) && [[ $MODE == daemon-* ]]; then continue; fi
        rm -rf "$W/src" "$W/dst" "$T/changes.$MODE"
        "$setup"
        "$check"
        if [[ -e $T/changes.$MODE && $MODE != local ]]; then
            assert_eq "$(cat "$T/changes.local")" "$(cat "$T/changes.$MODE")" "$name, $MODE: the same changes as local"
        fi
    done
}

# ---- a fresh mirror, then gen_tree's mutations: the dry run lists what the real run does
setup_mutated() {
    python3 "$GEN_TREE" "$W/src" --seed 5 --big-mib 1 >/dev/null
    "$KTSYNC" mirror --state-dir "$T/state-setup" --no-progress "$W/src" "$W/dst" >/dev/null
    python3 "$GEN_TREE" "$W/src" --mutate --seed 5 >"$T/expected"
}
check_mutated() {
    inode_ctime_snapshot "$W/dst" >"$T/before"
    assert_exit 0 run "$MODE" -n -i
    changes "$OUT" >"$T/dry"
    inode_ctime_snapshot "$W/dst" >"$T/after-dry"
    assert_eq "" "$(snapshot_changed "$T/before" "$T/after-dry")" "mutated, $MODE: the dry run changed nothing"
    assert_exit 0 run "$MODE" -i
    changes "$OUT" >"$T/changes.$MODE"
    assert_eq "$(cat "$T/dry")" "$(cat "$T/changes.$MODE")" "mutated, $MODE: the dry run listed exactly the real run's changes"
    tree_identical "$W/src" "$W/dst" || die "mutated, $MODE: DST differs"
    itemized_paths "$OUT" >"$T/listed"
    assert_subset_paths "$T/expected" "$T/listed" "mutated, $MODE: every mutated path changed"
    [[ -z $(find "$W/dst" -name '.ktsync-tmp.*') ]] || die "mutated, $MODE: temp files left"
}
each_mode mutated setup_mutated check_mutated

# ---- retyped entries: a file becomes a directory with contents, and the reverse
setup_retyped() {
    mkdir -p "$W/src/was-file/sub" "$W/dst/was-dir/deep/er"
    echo new >"$W/src/was-file/sub/f"
    echo now-a-file >"$W/src/was-dir"
    echo old >"$W/dst/was-file"
    echo x >"$W/dst/was-dir/deep/er/x"
    ln -s target "$W/src/link-was-dir"
    mkdir -p "$W/dst/link-was-dir/y"
    settle_times
}
check_retyped() {
    assert_exit 0 run "$MODE" -i
    changes "$OUT" >"$T/changes.$MODE"
    tree_identical --no-root "$W/src" "$W/dst" || die "retyped, $MODE: DST differs"
    pass "retyped, $MODE: DST identical"
}
each_mode retyped setup_retyped check_retyped

# ---- hard links: a rewritten group is sent once and its other name linked again; a new
# name of a file DST has is linked, its data not sent
setup_links() {
    mkdir -p "$W/src" "$W/dst"
    echo one >"$W/src/a"
    ln "$W/src/a" "$W/src/b"
    echo two >"$W/src/c"
    "$KTSYNC" mirror --state-dir "$T/state-setup" --no-progress "$W/src" "$W/dst" >/dev/null
    echo "one, rewritten" >"$W/src/a"  # b too: one inode
    ln "$W/src/c" "$W/src/e"
}
check_links() {
    assert_exit 0 run "$MODE" -i --stats
    changes "$OUT" >"$T/changes.$MODE"
    tree_identical --no-root "$W/src" "$W/dst" || die "links, $MODE: DST differs"
    assert_contains "$OUT" "Files sent: 1 " "links, $MODE: one file's data sent for the whole group"
}
each_mode links setup_links check_links

# ---- refusals before anything changes
setup_empty_src() {
    mkdir -p "$W/src" "$W/dst"
    echo precious >"$W/dst/keep"
    settle_times
}
check_empty_src() {
    inode_ctime_snapshot "$W/dst" >"$T/before"
    assert_exit 42 run "$MODE"
    inode_ctime_snapshot "$W/dst" >"$T/after"
    assert_eq "" "$(snapshot_changed "$T/before" "$T/after")" "empty SRC, $MODE: DST untouched"
    [[ -e $W/dst/keep ]] || die "empty SRC, $MODE: deleted"
}
each_mode "empty SRC" setup_empty_src check_empty_src

setup_max_delete() {
    mkdir -p "$W/src" "$W/dst"
    echo new >"$W/src/new"
    for i in 1 2 3; do echo old >"$W/dst/old$i"; done
    settle_times
}
check_max_delete() {
    assert_exit 25 run "$MODE" --max-delete 2
    [[ ! -e $W/dst/new && -e $W/dst/old1 ]] || die "--max-delete, $MODE: DST changed"
    pass "--max-delete, $MODE: refused before any change"
}
each_mode "--max-delete" setup_max_delete check_max_delete

# ---- as nobody: scan problems on either side
if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null; then
    note "SKIP the scan-error cases: they need root (setpriv to nobody)"
    exit 0
fi
AS_NOBODY=1
own_by_nobody() { chown -R nobody "$W/src" "$W/dst"; }

# A DST directory that cannot be listed: nothing vanished from the source, so it is a
# failure (23) in every mode, and no deletion runs after it.
setup_dst_unreadable() {
    mkdir -p "$W/src/d" "$W/dst/d" "$W/dst/closed"
    echo new >"$W/src/d/f"
    echo extra >"$W/dst/extra"
    own_by_nobody
    chown root "$W/dst/closed"
    chmod 700 "$W/dst/closed"
    settle_times
}
check_dst_unreadable() {
    assert_exit 23 run "$MODE"
    [[ -e $W/dst/extra ]] || die "DST unreadable, $MODE: deleted after an error"
    [[ $(cat "$W/dst/d/f") == new ]] || die "DST unreadable, $MODE: the rest was not mirrored"
    pass "DST unreadable, $MODE: exit 23, nothing deleted, the rest mirrored"
}
each_mode "DST unreadable" setup_dst_unreadable check_dst_unreadable

# A SRC directory that cannot be listed looks exactly like a deleted one: the dry run lists
# no deletion, and the real run makes none.
setup_src_unreadable() {
    mkdir -p "$W/src/secret" "$W/dst/secret"
    echo s >"$W/src/secret/s"
    echo s >"$W/dst/secret/s"
    echo extra >"$W/dst/extra"
    own_by_nobody
    chown root "$W/src/secret"
    chmod 700 "$W/src/secret"
    settle_times
}
check_src_unreadable() {
    assert_exit 23 run "$MODE" -n -i
    if grep -q '^\*deleting' "$OUT"; then _show stdout "$(cat "$OUT")"; die "SRC unreadable, $MODE: the dry run lists deletions"; fi
    changes "$OUT" >"$T/changes.$MODE"
    assert_exit 23 run "$MODE" -i
    if grep -q '^\*deleting' "$OUT"; then die "SRC unreadable, $MODE: the real run deleted"; fi
    [[ -e $W/dst/extra && -e $W/dst/secret/s ]] || die "SRC unreadable, $MODE: deleted after an error"
    pass "SRC unreadable, $MODE: no deletion listed by the dry run, none made by the real run"
}
each_mode "SRC unreadable" setup_src_unreadable check_src_unreadable
