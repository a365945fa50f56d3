#!/usr/bin/env bash
# daemon_mirror_test.sh - mirror through `ktsync serve --listen` (ktsync:// remotes):
# push, no-op rerun, pull, incremental push after gen_tree.py --mutate, two clients at
# once, --read-only / --write-only, secret file permissions, the auth timeout for a
# silent client, and confinement of client paths beneath --root.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

SECRET=$T/secret
head -c 32 /dev/urandom | base64 >"$SECRET"
chmod 600 "$SECRET"

# kd ARGS...: ktsync mirror with the daemon's secret and local state under $T.
kd() {
    "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" "$@"
}

# assert_contains FILE TEXT MSG (TEXT case-insensitive)
assert_contains() {
    if grep -qiF -- "$2" "$1"; then
        pass "$3"
    else
        _show "$(basename "$1")" "$(tail -n 30 "$1")"
        die "$3 (no '$2')"
    fi
}

# assert_fails CMD...: CMD exits non-zero (and not by a signal, nor timeout(1)'s 124);
# output in $OUT/$ERR.
assert_fails() {
    local rc=0
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    if ((rc != 0 && rc != 124 && rc < 128)); then
        pass "fails (exit $rc): $(_cmd_str "$@")"
    else
        _show stdout "$(tail -n 20 "$OUT")"
        _show stderr "$(tail -n 20 "$ERR")"
        die "exit $rc, wanted a failure: $(_cmd_str "$@")"
    fi
}

SRC=$T/src
ROOT=$T/root
mkdir "$ROOT"
python3 "$GEN_TREE" "$SRC" --big-mib 16
start_daemon "$ROOT"
URL=ktsync://127.0.0.1:$DPORT

# ---- push, no-op rerun, pull, incremental push
assert_exit 0 kd --stats "$SRC" "$URL/dst"
tree_identical "$SRC" "$ROOT/dst" && pass "push: daemon copy identical to SRC"
assert_contains "$OUT" "Encryption, sending: " "--stats reports the sending side's encryption"

inode_ctime_snapshot "$ROOT/dst" >"$T/snap0"
assert_exit 0 kd --json "$SRC" "$URL/dst"
assert_eq 0 "$(json_field "$OUT" summary files_sent)" "no-op push: files_sent 0"
assert_eq 0 "$(json_field "$OUT" summary hashed_src)" "no-op push: hashed_src 0"
assert_eq 0 "$(json_field "$OUT" summary hashed_dst)" "no-op push: hashed_dst 0"
assert_exit 0 kd -n -i "$SRC" "$URL/dst"
assert_eq "" "$(itemized_paths "$OUT")" "no-op dry run lists nothing"
inode_ctime_snapshot "$ROOT/dst" >"$T/snap1"
cmp -s "$T/snap0" "$T/snap1" && pass "no-op runs rewrote no file on the daemon" ||
    die "no-op runs changed: $(snapshot_changed "$T/snap0" "$T/snap1" | tr '\n' ' ')"

assert_exit 0 kd "$URL/dst" "$T/pulled"
tree_identical "$SRC" "$T/pulled" && pass "pull: fresh dir identical to SRC"
assert_exit 0 kd -i "$URL/dst" "$T/pulled"
assert_eq "" "$(itemized_paths "$OUT")" "no-op pull itemizes nothing"

python3 "$GEN_TREE" "$SRC" --mutate >"$T/mutated"
inode_ctime_snapshot "$ROOT/dst" >"$T/before"
assert_exit 0 kd -n -i "$SRC" "$URL/dst"
itemized_paths "$OUT" >"$T/listed"
assert_subset_paths "$T/mutated" "$T/listed" "dry run lists every mutated path"
assert_within_paths "$T/mutated" "$T/listed" "dry run lists nothing outside the mutated paths"
assert_exit 0 kd "$SRC" "$URL/dst"
tree_identical "$SRC" "$ROOT/dst" && pass "incremental push: identical"
inode_ctime_snapshot "$ROOT/dst" >"$T/after"
snapshot_changed "$T/before" "$T/after" >"$T/rewritten"
assert_subset_paths "$T/rewritten" "$T/mutated" "only mutated files were rewritten"
assert_exit 0 kd "$URL/dst" "$T/pulled"
tree_identical "$SRC" "$T/pulled" && pass "incremental pull: identical"
[[ -z $(find "$ROOT" "$T/pulled" -name '.ktsync-tmp.*') ]] && pass "no temp files left" ||
    die "temp files left: $(find "$ROOT" "$T/pulled" -name '.ktsync-tmp.*' | head -3)"

# ---- two clients at the same time, into different subdirs
kd "$SRC" "$URL/c1" >"$T/c1.out" 2>&1 &
p1=$!
kd "$SRC" "$URL/c2" >"$T/c2.out" 2>&1 &
p2=$!
rc1=0 rc2=0
wait "$p1" || rc1=$?
wait "$p2" || rc2=$?
if [[ "$rc1 $rc2" == "0 0" ]]; then
    pass "two concurrent pushes both succeed"
else
    _show "client outputs" "$(cat "$T/c1.out" "$T/c2.out")"
    die "concurrent pushes exited $rc1 and $rc2"
fi
tree_identical "$SRC" "$ROOT/c1" && tree_identical "$SRC" "$ROOT/c2" &&
    pass "both concurrent pushes identical"

# ---- --read-only refuses pushes, allows pulls
start_daemon "$ROOT" --read-only
RO=ktsync://127.0.0.1:$DPORT
inode_ctime_snapshot "$ROOT" >"$T/root-before"
assert_fails kd "$SRC" "$RO/ro-push"
assert_contains "$ERR" "read-only" "read-only refusal says read-only"
[[ ! -e $ROOT/ro-push ]] && pass "read-only daemon created nothing" || die "read-only daemon created $ROOT/ro-push"
assert_fails kd "$SRC" "$RO/dst"
inode_ctime_snapshot "$ROOT" >"$T/root-after"
cmp -s "$T/root-before" "$T/root-after" && pass "read-only daemon changed no file" ||
    die "read-only daemon changed: $(snapshot_changed "$T/root-before" "$T/root-after" | head -5)"
assert_exit 0 kd "$RO/dst" "$T/ro-pulled"
tree_identical "$SRC" "$T/ro-pulled" && pass "read-only daemon serves a pull"

# ---- --write-only refuses pulls, allows pushes
start_daemon "$ROOT" --write-only
WO=ktsync://127.0.0.1:$DPORT
assert_fails kd "$WO/dst" "$T/wo-pulled"
assert_contains "$ERR" "write-only" "write-only refusal says write-only"
[[ -z $(ls -A "$T/wo-pulled" 2>/dev/null) ]] && pass "refused pull wrote nothing locally" ||
    die "refused pull wrote into $T/wo-pulled"
assert_exit 0 kd "$SRC" "$WO/wo-push"
tree_identical "$SRC" "$ROOT/wo-push" && pass "write-only daemon accepts a push"

# A write-only daemon's client learns which of its own files are wanted, and nothing else:
# not the names of entries only the daemon has, not their count, not their metadata.
echo "only on the daemon" >"$ROOT/wo-push/daemon-only-secret"
mkdir "$ROOT/wo-push/daemon-only-dir"
wanted=$(cd "$SRC" && find . -type f -size +0 | sort | head -1)
wanted=${wanted#./}
other=$(cd "$SRC" && find . -type f -size +0 | sort | sed -n 2p)
other=${other#./}
chmod 600 "$ROOT/wo-push/$other"
echo changed >>"$SRC/$wanted"
assert_exit 0 kd -n -i --json "$SRC" "$WO/wo-push"
cat "$OUT" "$ERR" >"$T/wo-dry"
! grep -q "daemon-only" "$T/wo-dry" && pass "write-only dry run: no daemon-only name in the output" ||
    die "write-only dry run revealed: $(grep "daemon-only" "$T/wo-dry" | head -3)"
grep -q "\"$wanted\"" "$OUT" && pass "write-only dry run: the wanted file is listed" || die "$wanted not listed: $(head -c 600 "$OUT")"
! grep -qF "\"$other\"" "$OUT" && pass "write-only dry run: a mode difference on the daemon is not shown" ||
    die "$other (mode changed on the daemon) was itemized"
for f in to_delete dst_entries meta_fixed; do
    assert_eq 0 "$(json_field "$OUT" summary "$f")" "write-only: summary $f is 0"
done
# A same-size file with another mtime is not hashed: "not wanted" would confirm a guess of
# the daemon's content. It is simply wanted.
guess=$(cd "$SRC" && find . -type f -size +0 | sort | sed -n 3p)
guess=${guess#./}
touch -d '2001-02-03 04:05:06' "$SRC/$guess"
assert_exit 0 kd -n -i --json "$SRC" "$WO/wo-push"
grep -q "\"$guess\"" "$OUT" && pass "write-only: a same-size file with another mtime is wanted, not hashed" ||
    die "$guess (same content, other mtime) was not listed as wanted: $(head -c 600 "$OUT")"
assert_eq 0 "$(json_field "$OUT" summary hashed_src)" "write-only: nothing of the client's was hashed for the daemon"
assert_exit 0 kd --stats "$SRC" "$WO/wo-push"
[[ ! -e $ROOT/wo-push/daemon-only-secret ]] && pass "the push still deleted the daemon-only entry" || die "not deleted"
! grep -q "daemon-only" "$OUT" "$ERR" && pass "write-only push: no daemon-only name in the output" || die "push revealed it"
assert_fails kd -c "$SRC" "$WO/wo-push"
assert_contains "$ERR" "--checksum would let a client test guesses" "write-only refuses --checksum, saying why"

# ---- a secret readable by others is refused at startup
cp "$SECRET" "$T/secret644"
chmod 644 "$T/secret644"
assert_fails timeout 10 "$KTSYNC" serve --listen "127.0.0.1:$(free_port)" --root "$ROOT" \
    --secret-file "$T/secret644" --state-dir "$T/state-daemon"
assert_contains "$ERR" "chmod 600" "mode-0644 secret: message says chmod 600"

# ---- a client that never authenticates is dropped after --auth-timeout
start_daemon "$ROOT" --auth-timeout 2
AT=ktsync://127.0.0.1:$DPORT
exec 3<>"/dev/tcp/127.0.0.1/$DPORT"
# A watcher owns the silent socket and records when the daemon closes it, while other
# clients use the same daemon.
t0=$(date +%s.%N)
(
    rc=0
    timeout 10 cat <&3 >/dev/null || rc=$?
    echo "$rc $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }")" >"$T/eof"
) &
watcher=$!
at_exit "kill $watcher 2>/dev/null"
exec 3<&-
assert_exit 0 kd "$SRC" "$AT/at-push"
tree_identical "$SRC" "$ROOT/at-push" && pass "daemon takes a push while a client sits silent"
assert_exit 0 kd "$AT/dst" "$T/at-pulled"
tree_identical "$SRC" "$T/at-pulled" && pass "daemon serves a pull while a client sits silent"
wait "$watcher" || true
read -r rc elapsed <"$T/eof"
((rc == 0)) && pass "silent client's socket closed by the daemon (EOF after ${elapsed}s)" ||
    die "silent client's socket still open after 10s (cat exit $rc)"
awk "BEGIN { exit !($elapsed >= 1.5 && $elapsed <= 5) }" &&
    pass "dropped at the auth timeout (2 s, +3 s slack): ${elapsed}s" ||
    die "silent client dropped after ${elapsed}s (--auth-timeout 2)"
assert_exit 0 kd -n "$SRC" "$AT/dst"

# ---- confinement beneath --root
mkdir -p "$T/canary/inner"
echo "canary secret" >"$T/canary/inner/file"
touch -d '2001-01-01' "$T/canary/inner/file" "$T/canary/inner" "$T/canary"
ln -s "$T/canary" "$ROOT/link"
ln -s ../canary "$ROOT/rel-link"
mkdir "$ROOT/real"
inode_ctime_snapshot "$T/canary" >"$T/canary-before"
canary_ls=$(find "$T/canary" -printf '%p %y %m %T@ %C@ %s\n')
for path in /../canary /../canary/inner /link /link/inner /rel-link /real/../../canary; do
    rm -rf "$T/conf-pulled"
    assert_fails kd "$URL$path" "$T/conf-pulled"
    [[ -z $(find "$T/conf-pulled" -type f 2>/dev/null) ]] &&
        pass "pull of $path read nothing" || die "pull of $path copied files out of the canary"
    assert_fails kd "$SRC" "$URL$path"
done
assert_fails kd "$SRC" "$URL/../outside"
[[ ! -e $T/outside ]] && pass "push to /../outside created nothing outside --root" ||
    die "push escaped --root: $T/outside exists"
inode_ctime_snapshot "$T/canary" >"$T/canary-after"
cmp -s "$T/canary-before" "$T/canary-after" &&
    [[ $canary_ls == "$(find "$T/canary" -printf '%p %y %m %T@ %C@ %s\n')" ]] &&
    pass "canary outside --root untouched" || die "canary outside --root changed"
[[ -L $ROOT/link && -L $ROOT/rel-link ]] && pass "symlinks inside --root left as they were" ||
    die "a symlink inside --root was replaced"
