#!/usr/bin/env bash
# What ktsync prints per change matches rsync's own output on the same change, where the
# formats overlap: the same small tree (new, changed and deleted files and directories, type
# changes both ways (rsync prints only the new entry's line), a
# symlink, a FIFO) is mirrored onto two copies of one DST by `rsync -aH --delete` and by
# ktsync, and the lines of -v, of --out-format (with %i, with %o, with %n %l, with %M, also
# pushed over ssh) and of
# --log-file (timestamps and pids aside, and the first and last lines, which are each
# program's own) are the same sets. Order differs on purpose: ktsync prints a change when
# it is made (files finish in parallel, directory times and deletions come last). Then:
# --log-file lines are "YYYY/MM/DD HH:MM:SS [pid] ...", appended, with a first line and a
# last one with the totals and exit code, and errors; -q still logs; -n logs no changes.
# A DST-only directory holding excluded entries is kept in dry and real runs alike, with
# rsync -n's deletions, named, and not counted by --max-delete.
source "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || die "rsync is not installed (the oracle)"

S=$T/src D0=$T/dst0 STATE=$T/state
mkdir -p "$S"/{keep,gone/deep,chg}
echo a >"$S/keep/f"
echo b >"$S/gone/deep/x"
echo c >"$S/gone/y"
echo d >"$S/chg/f"
echo top >"$S/top"
ln -s top "$S/oldlink"
echo t >"$S/todir"     # type changes: a file that becomes a directory, and the reverse
mkdir -p "$S/tofile/in"
echo i >"$S/tofile/in/i"
cp -a "$S" "$D0"
find "$D0" -type d -exec touch -d '2001-01-01' {} +   # DST's directories older: their times change too
rm -rf "$S/gone" "$S/oldlink"
echo longer >"$S/chg/f"
touch -d 2002-02-02 "$S/chg/f"   # within the second of the copy, rsync would see one time
mkdir -p "$S/new/sub"
echo n >"$S/new/sub/n"
echo n2 >"$S/new2"
ln -s keep/f "$S/link"
mkfifo "$S/fifo"
rm -r "$S/todir" "$S/tofile"
mkdir "$S/todir"
echo u >"$S/todir/u"
echo f >"$S/tofile"

km() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$@"; }
# kpush ARGS... SRC DST: the same mirror pushed over ssh (the DST argument gets "host:").
kpush() {
    local args=("$@") n=$#
    "$KTSYNC" mirror --state-dir "$STATE" --no-progress -e "$SSH_CMD" --remote-ktsync "$KTSYNC" \
        "${args[@]:0:n-1}" "$SSH_HOST:${args[n-1]}"
}
KM=km

# compare LABEL RSYNC-ARGS -- KTSYNC-ARGS: both mirror $S onto a fresh copy of $D0; their
# stdout lines (rsync's header and summary dropped, and lines matching $DROP) must be the
# same set.
compare() {
    local label=$1 r=() k=()
    shift
    while [[ $1 != -- ]]; do r+=("$1"); shift; done
    shift
    k=("$@")
    rm -rf "$T/dr" "$T/dk"
    cp -a "$D0" "$T/dr"
    cp -a "$D0" "$T/dk"
    rsync -aH --delete "${r[@]}" "$S/" "$T/dr/" | sed -e '/^sending incremental file list$/d' -e '/^$/,$d' |
        grep -vE "${DROP:-^\$^}" | sort >"$T/rsync.txt"
    $KM "${k[@]}" "$S" "$T/dk" | sed -e '/^$/,$d' | grep -vE "${DROP:-^\$^}" | sort >"$T/ktsync.txt"
    [[ -s $T/rsync.txt ]] || die "$label: rsync printed nothing"
    diff "$T/rsync.txt" "$T/ktsync.txt" >"$T/diff.txt" || die "$label differs from rsync's: $(cat "$T/diff.txt")"
    pass "$label: the same $(wc -l <"$T/rsync.txt") lines as rsync's"
    tree_identical "$S" "$T/dk"
}

compare "-v" -v -- -v
compare "--out-format='%i %n%L'" --out-format='%i %n%L' -- --out-format='%i %n%L'
compare "--out-format='%o %n%L'" --out-format='%o %n%L' -- --out-format='%o %n%L'
# A directory's %l is its st_size for rsync, 0 for ktsync (documented).
DROP='/ *\|' compare "--out-format='%-12n|%10l'" --out-format='%-12n|%10l' -- --out-format='%-12n|%10l'
# %M: each entry's mtime (a deletion's: the epoch), locally and in the Items a push's server sends.
compare "--out-format='%o %n %M'" --out-format='%o %n %M' -- --out-format='%o %n %M'
start_sshd
KM=kpush compare "push: --out-format='%o %n %M'" --out-format='%o %n %M' -- --out-format='%o %n %M'

# --log-file: the same change lines (rsync's default format is ktsync's).
rm -rf "$T/dr" "$T/dk"
cp -a "$D0" "$T/dr"
cp -a "$D0" "$T/dk"
rsync -aH --delete --log-file="$T/rsync.log" "$S/" "$T/dr/"
km --log-file "$T/ktsync.log" "$S" "$T/dk" >/dev/null
stamp='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[[0-9]+\] '
bad=$(grep -cvE "$stamp" "$T/ktsync.log" || true)
[[ $bad == 0 ]] || die "--log-file: lines without rsync's timestamp and pid: $(grep -vE "$stamp" "$T/ktsync.log")"
pass "--log-file: every line starts 'YYYY/MM/DD HH:MM:SS [pid] '"
body() { sed -E "s#$stamp##" "$1" | sed -e '1d' -e '$d' | sort; }
body "$T/rsync.log" >"$T/rsync.body"
body "$T/ktsync.log" >"$T/ktsync.body"
diff "$T/rsync.body" "$T/ktsync.body" >"$T/diff.txt" || die "--log-file lines differ from rsync's: $(cat "$T/diff.txt")"
pass "--log-file: the same $(wc -l <"$T/rsync.body") change lines as rsync's"
first=$(sed -E "s#$stamp##" "$T/ktsync.log" | head -n1)
last=$(sed -E "s#$stamp##" "$T/ktsync.log" | tail -n1)
[[ $first == "mirror $S $T/dk (ktsync "* ]] || die "--log-file: first line: $first"
[[ $last == "done: sent 5 files (16 bytes), deleted 9, "*"; exit code 0" ]] || die "--log-file: last line: $last"
pass "--log-file: first line names the trees, last line: $last"

# Appended, -q still logs, and errors are logged with the exit code.
lines=$(wc -l <"$T/ktsync.log")
echo more >"$S/new2"
assert_exit 0 km -q --log-file "$T/ktsync.log" "$S" "$T/dk"
[[ ! -s $OUT && ! -s $ERR ]] || die "-q --log-file printed: $(cat "$OUT" "$ERR")"
tail -n +$((lines + 1)) "$T/ktsync.log" | grep -q '>f.st...... new2$' || die "-q run not logged: $(tail -n 4 "$T/ktsync.log")"
pass "--log-file appends, and logs a -q run"
assert_exit 3 km --log-file "$T/ktsync.log" "$T/no-such-src" "$T/dk"
tail -n 1 "$T/ktsync.log" | grep -qE "${stamp}error: .*no-such-src.*\(exit code 3\)$" ||
    die "the fatal error is not logged: $(tail -n 2 "$T/ktsync.log")"
pass "--log-file: a fatal error is logged with its exit code"

# A dry run logs no changes (rsync's): its first and last lines only, which say "dry run".
lines=$(wc -l <"$T/ktsync.log")
echo again >"$S/new2"
assert_exit 0 km -n --log-file "$T/ktsync.log" "$S" "$T/dk"
grep -q '^>f.st...... new2$' "$OUT" || die "-n --log-file: stdout lacks the planned change: $(cat "$OUT")"
tail -n +$((lines + 1)) "$T/ktsync.log" | sed -E "s#$stamp##" >"$T/dry.log"
[[ $(wc -l <"$T/dry.log") == 2 && $(head -n1 "$T/dry.log") == "dry run: mirror $S $T/dk (ktsync "* &&
    $(tail -n1 "$T/dry.log") == "dry run done: would send 1 files"*"; exit code 0" ]] ||
    die "-n --log-file: not just a first and a last dry-run line: $(cat "$T/dry.log")"
pass "-n --log-file: no change lines, first and last lines say dry run"

# A DST-only directory that holds entries the filter rules exclude is kept (rsync's "cannot
# delete non-empty directory"): decided in the plan, so a dry run lists what the real run
# deletes, names the kept directory the same way, and --max-delete counts what goes.
P=$T/protect
mkdir -p "$P/src" "$P/dst/gone/sub" "$P/dst/gone2"
echo s >"$P/src/s"   # an empty SRC is refused
echo x >"$P/dst/gone/keep.o"
echo y >"$P/dst/gone/sub/z"
echo w >"$P/dst/gone2/w"
rsync -n -i -r --delete --exclude='*.o' "$P/src/" "$P/dst/" >"$T/rsync.txt"
grep -qx 'cannot delete non-empty directory: gone' "$T/rsync.txt" || die "rsync did not keep gone: $(cat "$T/rsync.txt")"
grep "^\*deleting" "$T/rsync.txt" | sort >"$T/rsync.items"
for run in -n ""; do
    assert_exit 0 km $run -i --max-delete 4 --exclude '*.o' "$P/src" "$P/dst"
    sort "$OUT" | grep -v '^$' | grep -v 'entries' >"$T/ktsync.items"
    diff "$T/rsync.items" <(grep '^\*deleting' "$T/ktsync.items") >"$T/diff.txt" ||
        die "${run:-real run}: deletions differ from rsync -n's: $(cat "$T/diff.txt")"
    assert_contains "$ERR" "kept directory gone: it holds entries the filter rules exclude" "${run:-real run}: gone is named as kept"
done
[[ -f $P/dst/gone/keep.o && ! -e $P/dst/gone/sub && ! -e $P/dst/gone2 ]] || die "the real run did not keep just gone/keep.o"
pass "gone/keep.o kept with its directory, everything else deleted"
mkdir -p "$P/dst/gone/sub2" && echo v >"$P/dst/gone/sub2/v"
assert_exit 25 km -n --max-delete 1 --exclude '*.o' "$P/src" "$P/dst"
assert_contains "$ERR" "2 entries would be deleted" "--max-delete counts the deletions, not the kept directory"
