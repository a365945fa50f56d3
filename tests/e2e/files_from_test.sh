#!/usr/bin/env bash
# files_from_test.sh - rsync is the oracle for --files-from and --from0 (issue 15): each
# case runs `rsync -aHAX --delete --files-from=LIST` and `ktsync mirror --files-from=LIST`
# (the same extra options: -r or not, an exclude, --from0) from one SRC into two copies of
# one stale DST, and the two trees must end identical, entry by entry, with the same exit
# code: what is taken, which parent directories are created, and what --delete deletes
# (only inside listed directories whose contents are taken). Then the same pushed and
# pulled over ssh and pulled from a daemon, and the errors: a '..' path, a missing list.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || die "rsync not found (scripts/setup.sh installs it)"

SRC=$T/src
STALE=$T/stale
mkdir -p "$SRC"/{a/b,c,d/sub2} "$STALE"/{a/b,c,d/sub,d/sub2,e}
echo 1 >"$SRC/a/b/f1"
echo 2 >"$SRC/a/g"
echo 3 >"$SRC/c/h"
echo 4 >"$SRC/d/i"
echo 5 >"$SRC/top"
echo 6 >"$SRC/d/sub2/x"
echo 7 >"$SRC/sp ace"
printf 8 >"$SRC/$(printf 'new\nline')"
for f in a/b/stale a/stale c/stale d/stale d/sub/s d/sub2/old e/stale stale; do echo old >"$STALE/$f"; done
echo older >"$STALE/top"
touch -d '2001-01-01' "$SRC/top" "$SRC/d/i"
chmod 750 "$SRC/a"

# oracle NAME LIST RSYNC_ARGS... -- KTSYNC_ARGS...: LIST (a file) given to both; the two
# trees and exit codes must agree. KTSYNC_ARGS default to RSYNC_ARGS.
N=0
oracle() {
    local name=$1 list=$2 r_args=() k_args=() seen=0
    shift 2
    for a in "$@"; do
        if [[ $a == -- ]]; then seen=1; continue; fi
        if ((seen)); then k_args+=("$a"); else r_args+=("$a"); fi
    done
    ((seen)) || k_args=("${r_args[@]}")
    N=$((N + 1))
    local rd=$T/case$N/rsync kd=$T/case$N/ktsync
    mkdir -p "$T/case$N"
    cp -a "$STALE" "$rd"
    cp -a "$STALE" "$kd"
    local rrc=0 krc=0
    rsync -aHAX --delete --files-from="$list" "${r_args[@]}" "$SRC/" "$rd/" >"$T/case$N/rsync.log" 2>&1 || rrc=$?
    "$KTSYNC" mirror --no-progress --force-delete --state-dir "$T/state" --files-from="$list" "${k_args[@]}" \
        "$SRC" "$kd" >"$T/case$N/ktsync.log" 2>&1 || krc=$?
    if [[ $rrc != "$krc" ]]; then
        _show "rsync" "$(cat "$T/case$N/rsync.log")"
        _show "ktsync" "$(cat "$T/case$N/ktsync.log")"
        die "$name: rsync exits $rrc, ktsync $krc"
    fi
    tree_identical --no-dir-mtimes "$rd" "$kd" || die "$name: trees differ (rsync's first, in $T/case$N)"
    pass "$name (exit $krc)"
}

printf 'a/b/f1\nc\ntop\n' >"$T/l-basic"
oracle "listed file, dir and implied parents" "$T/l-basic"
oracle "the same with -r: listed dirs recursed, deleted in" "$T/l-basic" -r
printf '.\n' >"$T/l-dot"
oracle "'.': the root's contents, one level" "$T/l-dot"
oracle "'.' with -r: the whole tree" "$T/l-dot" -r
printf 'd/\n' >"$T/l-slash"
oracle "'d/': its children, one level" "$T/l-slash"
printf 'd/\nd/sub2/x\n' >"$T/l-slash-deeper"
oracle "'d/' and beneath it" "$T/l-slash-deeper"
printf 'c\nc/h\n' >"$T/l-dir-and-child"
oracle "a dir and a child of it" "$T/l-dir-and-child"
printf 'a\nd\ntop\n' >"$T/l-excl"
oracle "-r with excludes" "$T/l-excl" -r --exclude=g --exclude=stale
printf '#comment\n;comment\n\n/a/b/f1\r\n./c\r\n//d//i\nsp ace\n' >"$T/l-syntax"
oracle "comments, CRLF, leading / and ./" "$T/l-syntax"
printf 'new\nline\0sp ace\0a/g\0' >"$T/l-nul"
oracle "--from0" "$T/l-nul" --from0
# rsync still deletes in d/; ktsync deletes nothing after an error unless --delete-on-error.
printf 'a/b/f1\nnope\nd\n' >"$T/l-missing"
oracle "a listed path SRC lacks: exit 23 (--delete-on-error)" "$T/l-missing" -r -- -r --delete-on-error
MISSING_CASE=$N
grep -q 'nope' "$T/case$N/ktsync.log" || die "the missing path is not named: $(cat "$T/case$N/ktsync.log")"
cp -a "$STALE" "$T/missing"
assert_exit 23 "$KTSYNC" mirror --no-progress --force-delete --state-dir "$T/state" -r --files-from="$T/l-missing" \
    "$SRC" "$T/missing"
[[ -e $T/missing/d/stale && -e $T/missing/d/i ]] || die "after a missing listed path: deleted, or d/i not copied"
assert_contains "$ERR" "nope" "the missing path is named"
pass "a listed path SRC lacks: the rest copied, no deletions without --delete-on-error"

# An empty list, or one naming only paths SRC lacks: SRC's root takes nothing and DST keeps
# everything else, so it is nothing to do (as for rsync), not an "SRC is empty" refusal.
: >"$T/l-empty"
oracle "an empty list: nothing to do" "$T/l-empty"
tree_identical --no-dir-mtimes "$STALE" "$T/case$N/ktsync" || die "an empty list changed DST"
printf 'nope\n' >"$T/l-all-missing"
oracle "every listed path missing: exit 23, nothing deleted" "$T/l-all-missing"
tree_identical --no-dir-mtimes "$STALE" "$T/case$N/ktsync" || die "a list of missing paths changed DST"

# copy: rsync without --delete.
mkdir -p "$T/copy"
cp -a "$STALE" "$T/copy/rsync"
cp -a "$STALE" "$T/copy/ktsync"
rsync -aHAX -r --files-from="$T/l-basic" "$SRC/" "$T/copy/rsync/"
"$KTSYNC" copy --no-progress --state-dir "$T/state" -r --files-from="$T/l-basic" "$SRC" "$T/copy/ktsync"
tree_identical --no-dir-mtimes "$T/copy/rsync" "$T/copy/ktsync" || die "copy -r --files-from differs from rsync without --delete"
pass "copy --files-from deletes nothing, as rsync without --delete"

# The list from standard input.
cp -a "$STALE" "$T/stdin"
"$KTSYNC" mirror --no-progress --force-delete --state-dir "$T/state" --files-from=- "$SRC" "$T/stdin" <"$T/l-basic"
tree_identical --no-dir-mtimes "$T/case1/rsync" "$T/stdin" || die "--files-from=- differs from the list in a file"
pass "--files-from=- reads standard input"

# Errors: one line each, exit 1, nothing changed.
printf 'a\nx/../../etc\nd/./i\n' >"$T/l-dotdot"
cp -a "$STALE" "$T/err"
assert_exit 1 "$KTSYNC" mirror --no-progress --state-dir "$T/state" --files-from="$T/l-dotdot" "$SRC" "$T/err"
[[ $(wc -l <"$ERR") == 1 ]] || die "more than one line: $(cat "$ERR")"
assert_contains "$ERR" "line 2" "the '..' error names the line"
assert_exit 1 "$KTSYNC" mirror --no-progress --state-dir "$T/state" --files-from="$T/nonexistent" "$SRC" "$T/err"
[[ $(wc -l <"$ERR") == 1 ]] || die "more than one line: $(cat "$ERR")"
assert_contains "$ERR" "nonexistent" "a missing list is named"
assert_exit 1 "$KTSYNC" mirror --no-progress --state-dir "$T/state" --from0 "$SRC" "$T/err"
tree_identical "$STALE" "$T/err" || die "a refused run changed DST"
pass "refused runs left DST alone"

# Over ssh: the list read here, SRC scanned by whichever end holds it.
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
remote() {   # remote NAME LIST PUSH|PULL RSYNC_CASE ARGS...: like case RSYNC_CASE's rsync tree
    local name=$1 list=$2 dir=$3 ref=$4 src dst out=$T/remote-$4-$3 rc=0 want
    shift 4
    cp -a "$STALE" "$out"
    if [[ $dir == push ]]; then src=$SRC dst=$SSH_HOST:$out; else src=$SSH_HOST:$SRC dst=$out; fi
    "$KTSYNC" mirror --no-progress --force-delete --state-dir "$T/state" -e "$SSH_CMD" --remote-ktsync "$KTSYNC" \
        --files-from="$list" "$@" "$src" "$dst" >"$out.log" 2>&1 || rc=$?
    want=0
    if grep -q 'code 23' "$T/case$ref/rsync.log"; then want=23; fi
    [[ $rc == "$want" ]] || die "$name ($dir): exit $rc, rsync's $want: $(cat "$out.log")"
    tree_identical --no-dir-mtimes "$T/case$ref/rsync" "$out" || die "$name ($dir): differs from rsync's"
    pass "$name, $dir over ssh (exit $rc)"
}
for dir in push pull; do
    remote "listed file, dir and implied parents" "$T/l-basic" $dir 1
    remote "-r" "$T/l-basic" $dir 2 -r
    remote "'d/' and beneath it" "$T/l-slash-deeper" $dir 6
    remote "-r with excludes" "$T/l-excl" $dir 8 -r --exclude=g --exclude=stale
    remote "a listed path SRC lacks" "$T/l-missing" $dir "$MISSING_CASE" -r --delete-on-error
done

# A daemon's SRC, pulled.
new_secret
start_daemon "$T"
cp -a "$STALE" "$T/daemon-pull"
kd --force-delete -r --files-from="$T/l-basic" "ktsync://127.0.0.1:$DPORT/src" "$T/daemon-pull" >"$T/daemon.log" 2>&1 ||
    die "pull from a daemon failed: $(cat "$T/daemon.log")"
tree_identical --no-dir-mtimes "$T/case2/rsync" "$T/daemon-pull" || die "a daemon pull differs from rsync's"
pass "-r --files-from pulled from a daemon"
cp -a "$STALE" "$T/daemon-push"
kd --force-delete --files-from="$T/l-basic" "$SRC" "ktsync://127.0.0.1:$DPORT/daemon-push" >"$T/daemon.log" 2>&1 ||
    die "push to a daemon failed: $(cat "$T/daemon.log")"
tree_identical --no-dir-mtimes "$T/case1/rsync" "$T/daemon-push" || die "a daemon push differs from rsync's"
pass "--files-from pushed to a daemon"

# A daemon holds a pull's list for the session: beyond its caps (1000000 paths, 64 MiB) the
# list is refused with one line naming them, after the daemon read (and dropped) the rest.
seq -f 'p%07.0f' 1 1000001 >"$T/l-huge"
mkdir -p "$T/daemon-huge"
assert_exit 1 kd --force-delete --files-from="$T/l-huge" "ktsync://127.0.0.1:$DPORT/src" "$T/daemon-huge"
assert_contains "$ERR" "too long for this ktsync daemon, which takes at most 1000000 paths, 64 MiB" \
    "the client names the daemon's caps"
[[ $(grep -c . "$ERR") == 1 ]] || die "a refused list: not one line: $(cat "$ERR")"
[[ -z $(ls -A "$T/daemon-huge") ]] || die "a refused list changed DST"
pass "a list beyond the daemon's caps: exit 1, one line naming them"
# A request the daemon refuses is refused before the list is held, the list read and dropped.
DPORT_RW=$DPORT
start_daemon "$T" --write-only
assert_exit 3 kd --force-delete --files-from="$T/l-basic" "ktsync://127.0.0.1:$DPORT/src" "$T/daemon-huge"
assert_contains "$ERR" "write-only" "the refusal is the client's error"
[[ -z $(ls -A "$T/daemon-huge") ]] || die "a refused pull changed DST"
pass "a write-only daemon refuses a pull with a list, its reason reaching the client"
DPORT=$DPORT_RW
