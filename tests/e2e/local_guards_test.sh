#!/usr/bin/env bash
# Refusals that must happen before anything changes, and the hash store's robustness:
# every bad input gets a one-line error, its documented exit code, and nothing is lost.
source "$(dirname "$0")/lib.sh"

SRC=$T/src DST=$T/dst STATE=$T/state
run() { "$KTSYNC" mirror --state-dir "$STATE" "$@"; }
mkdir -p "$SRC/d"
for i in $(seq 1 20); do echo "$i" >"$SRC/d/f$i"; done
assert_exit 0 run "$SRC" "$DST"
tree_identical "$SRC" "$DST"
inode_ctime_snapshot "$DST" >"$T/before"
unchanged() {
    inode_ctime_snapshot "$DST" >"$T/after"
    assert_eq "" "$(snapshot_changed "$T/before" "$T/after")" "$1: DST unchanged"
    [[ $(find "$DST" | wc -l) == 22 ]] || die "$1: entries in DST changed"
}

# Empty or missing SRC with a non-empty DST: refused (42 / 3), nothing deleted.
mkdir "$T/empty"
assert_exit 42 run "$T/empty" "$DST"
grep -q "is empty" "$ERR" || die "no explanation for the empty SRC refusal"
unchanged "empty SRC"
assert_exit 3 run "$T/missing" "$DST"
grep -q "missing" "$ERR" || die "error does not name the missing SRC"
unchanged "missing SRC"

# --max-delete / --max-delete-percent: refuse the whole run, change nothing.
rm "$SRC"/d/f{1..5}
echo new >"$SRC/d/new"
assert_exit 25 run --max-delete 4 "$SRC" "$DST"
grep -q "more than --max-delete 4" "$ERR" || die "max-delete message"
unchanged "--max-delete"
[[ ! -e $DST/d/new ]] || die "--max-delete refusal still copied files"
assert_exit 25 run --max-delete-percent 10 "$SRC" "$DST"
unchanged "--max-delete-percent"
assert_exit 0 run -n --max-delete 5 "$SRC" "$DST"
grep -c '^\*deleting' "$OUT" | grep -qx 5 || die "dry run should list 5 deletions"
unchanged "dry run"
assert_exit 0 run --no-delete "$SRC" "$DST"
[[ -e $DST/d/f1 && -e $DST/d/new ]] || die "--no-delete deleted or did not copy"
pass "--no-delete keeps extraneous entries"
assert_exit 0 run --max-delete 5 "$SRC" "$DST"
tree_identical "$SRC" "$DST"

# Bad locations.
echo x >"$T/afile"
assert_exit 3 run "$SRC" "$T/afile"
grep -q "not a directory" "$ERR" || die "DST-is-a-file message"
assert_exit 1 run "$SRC" "$SRC/d/inside"
grep -q "inside SRC" "$ERR" || die "DST inside SRC message"
[[ ! -e $SRC/d/inside ]] || die "a refused run created DST"
assert_exit 1 run "$SRC/d" "$SRC"
grep -q "inside DST" "$ERR" || die "SRC inside DST message"
assert_exit 3 run "$SRC" "$T/no/such/parent"
grep -q "parent directory must exist" "$ERR" || die "missing parent message"
assert_exit 1 run "$SRC" "rsync://host/module"
grep -q "rsync's daemon" "$ERR" || die "rsync:// URL message"
assert_exit 1 run --bogus-flag "$SRC" "$DST"
# Trailing slashes never change the meaning: contents of SRC go into DST.
assert_exit 0 run "$SRC/" "$DST/"
assert_eq "" "$(run -i "$SRC" "$DST"; cat "$OUT" 2>/dev/null)" "SRC/ and SRC mirror the same"
[[ ! -e $DST/src ]] || die "trailing slash created DST/src"
pass "trailing slashes are insignificant"

# A second run into the same DST while one holds it: exit 43 at once.
assert_exit 0 "$KTSYNC" mirror --state-dir "$T/st_lock" "$SRC" "$DST"
lock=$(find "$T/st_lock" -name '*.lock')
[[ $(wc -l <<<"$lock") == 1 && -n $lock ]] || die "expected one lock file (DST's), got: $lock"
# The holder waits for the lock (a -n holder lost it to the probe below now and then) and
# keeps it until told, however slow the machine.
touch "$T/hold"
# shellcheck disable=SC2016 # $1 is the inner shell's
flock "$lock" sh -c 'while [ -e "$1" ]; do sleep 0.05; done' _ "$T/hold" &
lockpid=$!
for _ in $(seq 200); do flock -n "$lock" true || break; sleep 0.05; done  # held by the holder
assert_exit 43 "$KTSYNC" mirror --state-dir "$T/st_lock" "$SRC" "$DST"
grep -q "another ktsync run" "$ERR" || die "lock message"
rm "$T/hold"
wait "$lockpid"

# A corrupt cache is rebuilt with a warning, never trusted, never fatal.
for db in "$STATE"/roots/*.sqlite; do head -c 4096 /dev/urandom >"$db"; done
echo changed >"$SRC/d/f6"
assert_exit 0 run "$SRC" "$DST"
grep -qi "warning" "$ERR" || die "no warning for a corrupt database"
tree_identical "$SRC" "$DST"
pass "corrupt hash database rebuilt with a warning"
rm -rf "$STATE"
assert_exit 0 run -c "$SRC" "$DST"
tree_identical "$SRC" "$DST"
pass "missing state dir is recreated"

# An unreadable source directory is an error for its entries, and nothing is deleted.
if [[ $(id -u) == 0 ]]; then
    W=$(mktemp -d /tmp/ktsync-nobody.XXXXXX)
    at_exit "rm -rf '$W'"
    chmod 755 "$W"
    cp -a "$SRC" "$W/src"
    "$KTSYNC" mirror --state-dir "$W/st-root" "$W/src" "$W/dst"
    chown -R nobody "$W/src" "$W/dst"
    chown root "$W/src/d"
    chmod 700 "$W/src/d"  # nobody cannot list it: it must not look like an empty dir
    echo more >"$W/src/more"
    chown nobody "$W/src/more"
    rc=0
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$KTSYNC" mirror --state-dir "$W/st" \
        "$W/src" "$W/dst" >"$OUT" 2>"$ERR" || rc=$?
    assert_eq 23 "$rc" "unreadable source dir: partial-transfer exit code"
    [[ -e $W/dst/d/f10 ]] || die "entries of an unreadable SRC dir were deleted from DST"
    [[ -e $W/dst/more ]] || die "the readable rest was not mirrored"
    grep -q "Permission denied" "$ERR" || die "error does not give the cause: $(cat "$ERR")"
    pass "unreadable SRC dir: exit 23, its DST contents kept, the rest mirrored, cause named"
fi

# SIGINT mid-copy: exit 20, nothing partial under a final name; the next run cleans up.
mkdir -p "$T/isrc"
for i in $(seq 20); do head -c 15M /dev/urandom >"$T/isrc/big$i"; done
# --bwlimit (paid per file): 300 MB take 6 s, so the signal lands mid-run on any machine.
"$KTSYNC" mirror --state-dir "$STATE" --bwlimit 50M "$T/isrc" "$T/idst" 2>"$T/int.err" &
ipid=$!
wait_in_flight "$T/idst" 2 || true
kill -INT "$ipid"
rc=0
wait "$ipid" || rc=$?
assert_eq 20 "$rc" "SIGINT exits 20"
for f in "$T"/idst/big*; do
    [[ ! -e $f ]] || cmp -s "$T/isrc/${f##*/}" "$f" || die "partial file under its final name: $f"
done
assert_exit 0 run "$T/isrc" "$T/idst"
tree_identical "$T/isrc" "$T/idst"
[[ -z $(find "$T/idst" -name '.ktsync-tmp.*') ]] || die "temp files left after the rerun"
pass "interrupted run: rerun completes and removes the temp files"
