#!/usr/bin/env bash
# ssh_mirror_test.sh - mirror over a private sshd (host:/path remotes): push, no-op
# rerun, pull, incremental push after gen_tree.py --mutate, stream counts, plaintext
# mode, and how --stats reports the encryption.
# shellcheck source=lib.sh disable=SC2015  # `check && pass || die`: pass never fails
source "$(dirname "$0")/lib.sh"

# The remote `ktsync serve --stdio` gets none of our options; KTSYNC_STATE_DIR reaches it
# through the sshd's SetEnv (start_sshd forwards KTSYNC_*), so no state lands in ~root.
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

SRC=$T/src
DST=$T/dst

# ks ARGS...: ktsync mirror through the test sshd, local hash state under $T.
ks() {
    "$KTSYNC" mirror --state-dir "$T/state" -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$@"
}

# assert_contains FILE TEXT MSG
assert_contains() {
    if grep -qF -- "$2" "$1"; then
        pass "$3"
    else
        _show "$(basename "$1")" "$(tail -n 30 "$1")"
        die "$3 (no '$2')"
    fi
}

python3 "$GEN_TREE" "$SRC" --big-mib 32
start=$SECONDS

# ---- first push
assert_exit 0 ks --stats "$SRC" "$SSH_HOST:$DST"
tree_identical "$SRC" "$DST" && pass "push: DST identical to SRC"
assert_contains "$OUT" "Encryption, sending: " "--stats reports the sending side's encryption"
if [[ -d /sys/module/tls ]]; then
    note "tls module loaded on this host: not checking the userspace fallback reason"
else
    assert_contains "$OUT" "userspace TLS" "--stats: sending encryption runs in userspace TLS"
    assert_contains "$OUT" "tls module not loaded" "--stats: says why kernel TLS is not used"
fi
[[ -n $(find "$T/state-remote" -type f 2>/dev/null) ]] &&
    pass "remote side kept its hash state in KTSYNC_STATE_DIR ($T/state-remote)" ||
    die "remote wrote no state under KTSYNC_STATE_DIR=$T/state-remote"

# ---- second push changes nothing and re-reads nothing
inode_ctime_snapshot "$DST" >"$T/snap0"
assert_exit 0 ks --json "$SRC" "$SSH_HOST:$DST"
cp "$OUT" "$T/noop.json"
assert_eq 0 "$(json_field "$T/noop.json" summary files_sent)" "no-op push: files_sent 0"
assert_eq 0 "$(json_field "$T/noop.json" summary hashed_src)" "no-op push: hashed_src 0"
assert_eq 0 "$(json_field "$T/noop.json" summary hashed_dst)" "no-op push: hashed_dst 0"
assert_eq 0 "$(json_field "$T/noop.json" summary exit_code)" "no-op push: summary exit_code 0"
assert_exit 0 ks -i "$SRC" "$SSH_HOST:$DST"
assert_eq "" "$(itemized_paths "$OUT")" "no-op push with -i itemizes nothing"
assert_exit 0 ks -n -i "$SRC" "$SSH_HOST:$DST"
assert_eq "" "$(itemized_paths "$OUT")" "no-op dry run lists nothing"
inode_ctime_snapshot "$DST" >"$T/snap1"
cmp -s "$T/snap0" "$T/snap1" && pass "no-op runs rewrote no file in DST" ||
    die "no-op runs changed files: $(snapshot_changed "$T/snap0" "$T/snap1" | head -5)"

# ---- pull into a fresh directory
assert_exit 0 ks "$SSH_HOST:$SRC" "$T/pulled"
tree_identical "$SRC" "$T/pulled" && pass "pull: fresh dir identical to SRC"

# ---- incremental push after --mutate
python3 "$GEN_TREE" "$SRC" --mutate >"$T/mutated"
note "gen_tree --mutate changed $(wc -l <"$T/mutated") paths"
inode_ctime_snapshot "$DST" >"$T/before"
assert_exit 0 ks -n -i "$SRC" "$SSH_HOST:$DST"
itemized_paths "$OUT" >"$T/listed"
inode_ctime_snapshot "$DST" >"$T/after-dry"
cmp -s "$T/before" "$T/after-dry" && pass "dry run changed nothing in DST" ||
    die "dry run changed DST: $(snapshot_changed "$T/before" "$T/after-dry" | head -5)"
assert_subset_paths "$T/mutated" "$T/listed" "dry run lists every mutated path"
assert_within_paths "$T/mutated" "$T/listed" "dry run lists nothing outside the mutated paths"

assert_exit 0 ks -i "$SRC" "$SSH_HOST:$DST"
tree_identical "$SRC" "$DST" && pass "incremental push: DST identical to SRC"
inode_ctime_snapshot "$DST" >"$T/after"
snapshot_changed "$T/before" "$T/after" >"$T/rewritten"
note "$(wc -l <"$T/rewritten") files rewritten"
assert_subset_paths "$T/rewritten" "$T/mutated" "only mutated files were rewritten"
[[ -z $(find "$DST" -name '.ktsync-tmp.*') ]] && pass "no temp files left in DST" ||
    die "temp files left: $(find "$DST" -name '.ktsync-tmp.*' | head -3)"

# pull the mutated tree over the earlier pull
assert_exit 0 ks "$SSH_HOST:$SRC" "$T/pulled"
tree_identical "$SRC" "$T/pulled" && pass "incremental pull: identical to SRC"

# ---- explicit stream counts
for n in 1 4; do
    assert_exit 0 ks --json --streams "$n" "$SRC" "$SSH_HOST:$T/streams$n"
    tree_identical "$SRC" "$T/streams$n" && pass "--streams $n: push identical"
    assert_eq "$n" "$(json_field "$OUT" summary streams)" "--streams $n: summary reports $n streams"
done
assert_exit 0 ks --streams 4 "$SSH_HOST:$SRC" "$T/pull4"
tree_identical "$SRC" "$T/pull4" && pass "--streams 4: pull identical"

# ---- plaintext data connections
assert_exit 0 ks --no-encryption --stats "$SRC" "$SSH_HOST:$T/plain"
tree_identical "$SRC" "$T/plain" && pass "--no-encryption: push identical"
assert_contains "$ERR" "--no-encryption" "--no-encryption prints a warning"
assert_contains "$ERR" "plaintext" "the warning says data goes in plaintext"
if grep -q "Encryption, sending: .*TLS" "$OUT" && ! grep -qi "none\|plaintext\|off" "$OUT"; then
    die "--no-encryption run still reports TLS encryption: $(grep Encryption "$OUT")"
fi
pass "--no-encryption: --stats does not claim TLS ($(grep 'Encryption, sending' "$OUT" || echo 'no line'))"

note "network part took $((SECONDS - start)) s"
