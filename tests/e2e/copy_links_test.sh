#!/usr/bin/env bash
# copy_links_test.sh - -L/--copy-links with rsync as the oracle (issue 15). SRC holds a
# symlink to a file, to a directory, relative and absolute links out of SRC, a chain of
# links and a hard-linked file reached through a link; `rsync -aHAX -L --delete` and
# `ktsync mirror -L` make the same tree, entry by entry (hard-link groups included), into a
# fresh and into a stale DST, locally, pushed and pulled over ssh; a second run changes
# nothing, with -c too. With a dangling link and a loop added both exit 23 and delete nothing; the
# dangling link is named and skipped; ktsync skips the loop (naming it) where rsync
# descends until ELOOP, so the loop's own subtree is left out of the comparison. A daemon
# serving SRC refuses -L (its module is a boundary); a push with -L to a daemon follows
# the client's links.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || die "rsync not found"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

T0=1600000000

# put PATH CONTENT: a regular file with a fixed mtime.
put() {
    mkdir -p "$(dirname "$1")"
    printf '%s' "$2" >"$1"
    touch -d "@$T0" "$1"
}

# make_case DIR [faults]: DIR/src, DIR/out (what links out of SRC reach), and DIR/stale (a
# DST holding links where SRC's referents go, a file where SRC has a directory, extras).
# "faults" adds a dangling link and a link to an ancestor directory.
make_case() {
    local w=$1
    rm -rf "$w"
    mkdir -p "$w/src/d/sub" "$w/out/odir" "$w/stale/d" "$w/stale/only_dir"
    put "$w/out/ofile" "outside"
    put "$w/out/odir/x" "outside dir"
    put "$w/src/d/file" "file"
    put "$w/src/d/sub/deep" "deep"
    put "$w/src/d/hard1" "hard"
    ln "$w/src/d/hard1" "$w/src/d/hard2"
    ln -s file "$w/src/d/flink"                  # to a file, relative
    ln -s flink "$w/src/d/chain"                 # a chain: chain -> flink -> file
    ln -s d "$w/src/dlink"                       # to a directory
    ln -s ../../out/ofile "$w/src/d/rel_out"     # relative, out of SRC
    ln -s "$w/out/odir" "$w/src/abs_out"         # absolute, out of SRC
    ln -s "$w/src/d/hard1" "$w/src/hlink"        # absolute, to a hard-linked file
    chmod 640 "$w/src/d/file"
    if [[ ${2:-} == faults ]]; then
        ln -s nowhere "$w/src/dangling"
        # Away from the hard links: rsync's copies of the loop would join their group.
        put "$w/src/up/sub/f" "in the loop"
        ln -s .. "$w/src/up/sub/loop"
        touch -d "@$T0" "$w/src/up/sub" "$w/src/up"
    fi
    put "$w/stale/d/file" "stale"
    ln -s file "$w/stale/d/flink"                # DST's own link where SRC's referent goes
    ln -s /etc "$w/stale/dlink"                  # never followed in DST
    put "$w/stale/abs_out" "a file where SRC has a directory"
    put "$w/stale/dangling" "kept: rsync deletes nothing after an error"
    put "$w/stale/only_file" "extra"
    touch -d "@$T0" "$w/src/d/sub" "$w/src/d" "$w/src" "$w/out/odir"
}

# compare NAME R K [SKIP...]: rsync's DST R and ktsync's K are the same, but for SKIP.
compare() {
    local name=$1 r=$2 k=$3 skips=()
    shift 3
    for s in "$@"; do skips+=(--skip "$s"); done
    tree_identical "${skips[@]}" "$r" "$k" || die "$name: ktsync -L differs from rsync -aHAX -L --delete"
}

# run_ktsync HOW W DST [OPTION...]: ktsync mirror -L from W/src into DST, locally, pushed or
# pulled over ssh; output in $OUT and $ERR, exit code in $RC.
run_ktsync() {
    local how=$1 w=$2 dst=$3 src=$2/src/
    shift 3
    local remote=(-e "$SSH_CMD" --remote-ktsync "$KTSYNC")
    RC=0
    case $how in
        local) "$KTSYNC" mirror --no-progress -L "$@" "$src" "$dst/" ;;
        push) "$KTSYNC" mirror --no-progress -L "${remote[@]}" "$@" "$src" "$SSH_HOST:$dst/" ;;
        pull) "$KTSYNC" mirror --no-progress -L "${remote[@]}" "$@" "$SSH_HOST:$src" "$dst/" ;;
    esac >"$OUT" 2>"$ERR" || RC=$?
}

# same_result HOW START: a clean tree (no dangling link, no loop) into a fresh or stale DST.
same_result() {
    local how=$1 start=$2 w=$T/$1-$2
    make_case "$w"
    if [[ $start == stale ]]; then cp -a "$w/stale" "$w/r"; cp -a "$w/stale" "$w/k"; fi
    rsync -aHAX -L --delete "$w/src/" "$w/r/" >"$w/rsync.out" 2>&1 || die "rsync -L failed: $(cat "$w/rsync.out")"
    run_ktsync "$how" "$w" "$w/k"
    [[ $RC == 0 ]] || die "$how $start: ktsync -L exit $RC: $(cat "$ERR")"
    compare "$how $start" "$w/r" "$w/k"
    [[ -f $w/k/dlink/file && ! -L $w/k/dlink ]] || die "$how $start: dlink is not a copied directory"
    [[ $(stat -c %i "$w/k/hlink") == $(stat -c %i "$w/k/d/hard2") ]] || die "$how $start: hlink not linked to d/hard2"
    [[ $(stat -c %a "$w/k/d/flink") == 640 ]] || die "$how $start: d/flink has not its referent's mode"
    pass "$how, $start DST: ktsync mirror -L = rsync -aHAX -L --delete"
    run_ktsync "$how" "$w" "$w/k" -i
    [[ $RC == 0 && -z $(itemized_paths "$OUT") ]] || die "$how $start: the second run changed $(itemized_paths "$OUT") (exit $RC)"
    pass "$how, $start DST: a second run changes nothing"
    # -c hashes SRC's files through the links (and caches them by the referent's identity).
    run_ktsync "$how" "$w" "$w/k" -c -i
    [[ $RC == 0 && -z $(itemized_paths "$OUT") ]] || die "$how $start: -c changed $(itemized_paths "$OUT") (exit $RC): $(cat "$ERR")"
    pass "$how, $start DST: -c finds every file the same"
}

# with_faults HOW: a dangling link and a loop; both tools exit 23 and delete nothing.
with_faults() {
    local how=$1 w=$T/$1-faults rc=0
    make_case "$w" faults
    cp -a "$w/stale" "$w/r"
    cp -a "$w/stale" "$w/k"
    rsync -aHAX -L --delete "$w/src/" "$w/r/" >"$w/rsync.out" 2>&1 || rc=$?
    [[ $rc == 23 ]] || die "rsync -L with faults: exit $rc, expected 23"
    run_ktsync "$how" "$w" "$w/k"
    [[ $RC == 23 ]] || die "$how faults: ktsync -L exit $RC, expected 23: $(cat "$ERR")"
    assert_contains "$ERR" 'symlink has no referent: "dangling"' "$how: the dangling link is named as rsync names it"
    assert_contains "$ERR" 'skipping up/sub/loop: it leads back to "up"' "$how: the loop is named, with the directory it leads to"
    # rsync walks up/sub/loop down to ELOOP; ktsync does not list it.
    [[ ! -e $w/k/up/sub/loop && -f $w/k/up/sub/f ]] || die "$how: ktsync copied the loop, or not what is beside it"
    compare "$how faults" "$w/r" "$w/k" up/sub/loop
    [[ -f $w/k/dangling && -f $w/k/only_file ]] || die "$how: deleted after an error"
    pass "$how, faults: exit 23 like rsync, nothing deleted, the rest as rsync made it"
}

for how in local push pull; do
    same_result "$how" fresh
    same_result "$how" stale
    with_faults "$how"
done

# Filter rules see a followed link as its referent: '+ */' keeps the links to directories.
w=$T/filtered
make_case "$w"
rsync -aHAX -L --delete --include='*/' --exclude='*' "$w/src/" "$w/r/" >/dev/null 2>&1 || die "rsync -L with rules failed"
run_ktsync local "$w" "$w/k" --include='*/' --exclude='*'
[[ $RC == 0 ]] || die "ktsync -L with rules: exit $RC: $(cat "$ERR")"
compare "rules" "$w/r" "$w/k"
[[ -d $w/k/dlink/sub && ! -e $w/k/dlink/file ]] || die "rules: a link to a directory was not matched as one"
pass "filter rules match followed links as their referents, as in rsync"

# A daemon serving SRC: its module is a boundary, and its links may point anywhere.
new_secret
mkdir -p "$T/served"
make_case "$T/served/m"
start_daemon "$T/served"
mkdir -p "$T/pulled"
put "$T/pulled/mine" "kept"
assert_exit 3 kd -L "ktsync://127.0.0.1:$DPORT/m/src/" "$T/pulled/"
assert_contains "$ERR" "-L (--copy-links) could reach files outside the module" "a daemon refuses to follow links for a pull"
[[ $(ls "$T/pulled") == mine ]] || die "a refused pull changed DST"
pass "a refused pull leaves DST untouched"
# A push: the client's SRC is followed, the daemon's tree is written as any DST.
w=$T/daemon-push
make_case "$w"
rsync -aHAX -L --delete "$w/src/" "$w/r/" >/dev/null 2>&1 || die "rsync -L failed"
assert_exit 0 kd -L "$w/src/" "ktsync://127.0.0.1:$DPORT/pushed"
compare "daemon push" "$w/r" "$T/served/pushed"
pass "push to a daemon with -L = rsync -aHAX -L --delete"

