#!/usr/bin/env bash
# `ktsync state list|prune` on real state dirs (issue 15: one database per tree, with no way
# to list or prune them): one line (or JSON object) per database with its tree, size, last
# use and whether the tree exists; prune removes those of gone trees (--missing) or unused
# ones (--older-than DAYS), -n only says so, a database a running mirror holds is kept, and
# a state dir others may write is refused as a mirror refuses it.
source "$(dirname "$0")/lib.sh"

S=$T/state
ks() { "$KTSYNC" state "$@"; }
km() { "$KTSYNC" mirror --state-dir "$S" --no-progress "$@"; }
for t in a c e; do
    mkdir -p "$T/$t"
    echo "$t" >"$T/$t/f"
done
km "$T/a" "$T/b"
km "$T/c" "$T/d"
km "$T/e" "$T/f"
rm -rf "$T/c" "$T/d"
dbs() { find "$S/roots" -name '*.sqlite' | wc -l; }
# db_of TREE: the database `state list --json` names for TREE.
db_of() {
    ks list --json --state-dir "$S" >"$T/list.json"
    python3 -c 'import json,sys; [print(r["db"]) for r in map(json.loads, open(sys.argv[1])) if r["tree"] == sys.argv[2]]' \
        "$T/list.json" "$1"
}
assert_eq 6 "$(dbs)" "one database per tree, SRC and DST"

assert_exit 0 ks list --state-dir "$S"
assert_eq 6 "$(wc -l <"$OUT")" "state list: one line per database"
for t in a b e f; do grep -q "present  *$T/$t\$" "$OUT" || die "state list: $t not present: $(cat "$OUT")"; done
for t in c d; do grep -q "missing  *$T/$t\$" "$OUT" || die "state list: $t not missing: $(cat "$OUT")"; done
pass "state list says which trees exist"

assert_exit 0 ks list --json --state-dir "$S"
python3 - "$OUT" "$T" <<'PY' || die "state list --json: $(cat "$OUT")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = sys.argv[2]
by = {r["tree"][len(t) + 1:]: r for r in rows}
assert sorted(by) == list("abcdef"), by
for k, r in by.items():
    assert r["tree_exists"] == (k not in "cd"), r
    assert (r["mirrored_at"] is not None) == (k in "bdf"), r  # the DSTs a mirror completed into
    assert r["bytes"] > 0 and r["last_used"] > 0 and not r["locked"], r
    assert r["db"].startswith(t + "/state/roots/") and r["db"].endswith(".sqlite"), r
PY
pass "state list --json: tree, db, bytes, last_used, mirrored_at, tree_exists, locked"

assert_exit 0 ks prune --missing -n --state-dir "$S"
assert_eq 2 "$(grep -c '^would remove .*its tree is gone' "$OUT")" "prune -n names the two gone trees"
assert_eq 6 "$(dbs)" "prune -n removes nothing"

# A gone tree whose lock a running mirror holds is kept.
lock=$(db_of "$T/f").lock
rm -rf "$T/e" "$T/f"
touch "$T/hold"
# shellcheck disable=SC2016 # $1 is the inner shell's
flock "$lock" sh -c 'while [ -e "$1" ]; do sleep 0.05; done' _ "$T/hold" &
holder=$!
for _ in $(seq 200); do flock -n "$lock" true || break; sleep 0.05; done
assert_exit 0 ks list --state-dir "$S"
grep -q "missing,locked  *$T/f\$" "$OUT" || die "state list: f not shown locked: $(cat "$OUT")"
assert_exit 0 ks prune --missing --state-dir "$S"
assert_eq 3 "$(grep -c '^removed .*its tree is gone' "$OUT")" "prune --missing removes c, d and e"
grep -q "^kept $T/f: a running mirror holds it" "$OUT" || die "prune: locked f not named: $(cat "$OUT")"
grep -q "^removed 3 of 6 databases" "$OUT" || die "prune: no total: $(cat "$OUT")"
assert_eq 3 "$(dbs)" "prune --missing keeps the present and the locked"
rm "$T/hold"
wait "$holder"
assert_exit 0 ks prune --missing --state-dir "$S"
assert_eq 2 "$(dbs)" "released, the gone tree's database goes too"

# --older-than DAYS: by the newest mtime of the database's files.
adb=$(db_of "$T/a")
for f in "$adb" "$adb"-wal "$adb"-shm; do [[ ! -e $f ]] || touch -d "40 days ago" "$f"; done
assert_exit 0 ks prune --older-than 30 --state-dir "$S"
grep -q "^removed $T/a (not used for 40 days" "$OUT" || die "prune --older-than: $(cat "$OUT")"
assert_eq 1 "$(dbs)" "prune --older-than removes only the unused database"
[[ ! -e $adb && ! -e $adb-wal && ! -e $adb.lock ]] || die "prune left files of $adb behind"
pass "prune removes a database's side files and lock too"

# Refusals and the empty case.
assert_exit 0 ks list --state-dir "$T/none"
grep -q "no databases" "$ERR" || die "empty state dir: $(cat "$ERR")"
chmod 777 "$S"
assert_exit 3 ks prune --missing --state-dir "$S"
grep -q "writable by others" "$ERR" || die "unsafe state dir: $(cat "$ERR")"
chmod 700 "$S"
assert_eq 1 "$(dbs)" "a refused prune removes nothing"
