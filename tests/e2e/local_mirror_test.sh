#!/usr/bin/env bash
# Foundation end to end: a generated tree with every entry kind is mirrored locally,
# verified identical, mutated, listed exactly by a dry run, mirrored again; unchanged files
# are neither rewritten nor re-hashed; a no-change run does nothing.
source "$(dirname "$0")/lib.sh"

BIG_MIB=${KTSYNC_E2E_BIG_MIB:-2100}  # > 2 GiB: offsets past 2^31 must work
SRC=$T/src DST=$T/dst STATE=$T/state
run() { "$KTSYNC" mirror --state-dir "$STATE" "$@"; }

python3 "$GEN_TREE" "$SRC" --big-mib "$BIG_MIB" >/dev/null
note "tree with a ${BIG_MIB} MiB file generated"

assert_exit 0 run "$SRC" "$DST"
tree_identical "$SRC" "$DST"
pass "first mirror is identical (content, modes, ns mtimes, links, hard links)"

# A second run with nothing changed sends, hashes and lists nothing.
assert_exit 0 run -n -i "$SRC" "$DST"
assert_eq "" "$(grep -v '^Number of\|^Total bytes\|^$' "$OUT" || true)" "no-change dry run lists nothing"
inode_ctime_snapshot "$DST" >"$T/snap0"
assert_exit 0 run --json "$SRC" "$DST"
cp "$OUT" "$T/nochange.json"
assert_eq 0 "$(json_field "$T/nochange.json" summary files_sent)" "no-change run sends no file"
assert_eq 0 "$(json_field "$T/nochange.json" summary hashed_src)" "no-change run hashes nothing in SRC"
assert_eq 0 "$(json_field "$T/nochange.json" summary hashed_dst)" "no-change run hashes nothing in DST"
inode_ctime_snapshot "$DST" >"$T/snap1"
assert_eq "" "$(snapshot_changed "$T/snap0" "$T/snap1")" "no-change run rewrites nothing"

# Mutate; the dry run must list exactly the mutated paths.
python3 "$GEN_TREE" "$SRC" --mutate >"$T/expected"
assert_exit 0 run -n -i "$SRC" "$DST"
cp "$OUT" "$T/dry"
itemized_paths "$T/dry" >"$T/listed"
assert_subset_paths "$T/expected" "$T/listed" "dry run lists every mutated path"
assert_within_paths "$T/expected" "$T/listed" "dry run lists nothing that did not change"
tree_identical "$SRC" "$DST" >/dev/null 2>&1 && die "dry run changed DST"
inode_ctime_snapshot "$DST" >"$T/snap2"
assert_eq "" "$(snapshot_changed "$T/snap1" "$T/snap2")" "dry run changed no file in DST"

# The real run executes the very plan the dry run printed.
assert_exit 0 run -i --json "$SRC" "$DST"
cp "$OUT" "$T/real.json"
assert_exit 0 run -i "$SRC" "$DST"  # now a no-op
assert_eq "" "$(cat "$OUT")" "after the mutation run, the next run has nothing to do"
# A real run reports each change when it is done (files finish in parallel), a dry run in
# plan order: the same changes, so compare them as sorted "code path" lines.
_py '
import json, sys
from gen_tree import escape_path
items = [e for e in map(json.loads, open(sys.argv[1])) if e.get("event") == "item"]
key = lambda e: e.get("path_hex", e.get("path"))
created = {key(e) for e in items if e["op"] != "remove"}
for e in items:
    if e["op"] == "remove" and key(e) in created:
        continue  # the entry in the way of a type change: -i shows only the new entry, as rsync
    raw = bytes.fromhex(e["path_hex"]) if "path_hex" in e else e["path"].encode()
    print(e["itemize"], escape_path(b"" if raw == b"." else raw))
' "$T/real.json" | sort >"$T/real_items"
grep -v '^Number of\|^Total bytes\|^$' "$T/dry" | sed -E -e 's/ -> .*$//' -e 's/ => .*$//' -e 's|/$||' -e 's|^(.{11}) \.$|\1 |' | sort >"$T/dry_items"
assert_eq "$(cat "$T/dry_items")" "$(cat "$T/real_items")" "real run made exactly the changes the dry run listed"
tree_identical "$SRC" "$DST"
pass "mirror after mutation is identical"

# Unchanged files kept their inode and ctime; only mutated ones were touched.
inode_ctime_snapshot "$DST" >"$T/snap3"
snapshot_changed "$T/snap2" "$T/snap3" >"$T/rewritten"
assert_subset_paths "$T/rewritten" "$T/expected" "only mutated files were rewritten"
hashed=$(( $(json_field "$T/real.json" summary hashed_src) + $(json_field "$T/real.json" summary hashed_dst) ))
(( hashed <= 2 * $(wc -l <"$T/expected") )) || die "mutation run hashed $hashed files"
pass "mutation run hashed only candidates ($hashed files)"
grep -q '^\.f\.\.t\.\.\.\.\.\. sizes/s4097$' "$T/dry" || die "mtime-only change is not metadata-only"
pass "same content with a new mtime is a metadata-only update"

# Filters: excluded in SRC are not copied; excluded in DST are not deleted.
echo junk >"$SRC/skip.tmp"
echo keep >"$DST/local.tmp"
assert_exit 0 run --exclude '*.tmp' "$SRC" "$DST"
[[ ! -e $DST/skip.tmp && -e $DST/local.tmp ]] || die "--exclude not honoured"
pass "--exclude keeps excluded files out and protects them in DST"
rm -f "$SRC/skip.tmp" "$DST/local.tmp"

# --checksum catches a same-size, same-mtime content change the quick check cannot see.
f=$SRC/sizes/s4096
mt=$(stat -c %y "$f")
printf 'Z' | dd of="$f" bs=1 seek=10 conv=notrunc status=none
touch -d "$mt" "$f"
assert_exit 0 run -i "$SRC" "$DST"
assert_eq "" "$(cat "$OUT")" "quick check does not see a same-size same-mtime edit (as rsync)"
assert_exit 0 run -i --checksum "$SRC" "$DST"
grep -q '^>fc.* sizes/s4096$' "$OUT" || die "--checksum did not resend: $(cat "$OUT")"
cmp -s "$f" "$DST/sizes/s4096" || die "--checksum did not update the content"
pass "--checksum detects and fixes the edit"

# No leftovers from any run.
[[ -z $(find "$DST" -name '.ktsync-tmp.*') ]] || die "temp files left in DST"
pass "no temp files left"
