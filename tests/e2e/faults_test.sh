#!/usr/bin/env bash
# faults_test.sh - resource faults: a full destination disk, permission denied in DST,
# unreadable source files and directories, source files that grow, shrink, are replaced
# or vanish while being sent. Locally, pushed and pulled over a private sshd.
#
# Each fault must give a per-file error naming the path and the cause, the partial-transfer
# exit code (23, or 24 when the only problems are sources that changed/vanished), every
# other file mirrored, no file with torn content and no temp file left, and no deletion
# after any error unless --delete-on-error. Over the network both sides' errors count:
# the side that deletes must hear of the other side's errors first (a test without that
# rule fails the "extraneous file kept" checks in the remote sections).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

STATE=$T/state
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

nobody_workdir faults

k() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$@"; }
ks() { k -e "$SSH_CMD" --remote-ktsync "$W/remote-ktsync" "$@"; }

# run_mode MODE SRC DST [OPTIONS...]: local, push or pull of SRC to DST (same host).
run_mode() {
    local mode=$1 src=$2 dst=$3
    shift 3
    case $mode in
        local) k "$@" "$src" "$dst" ;;
        push) ks "$@" "$src" "$SSH_HOST:$dst" ;;
        pull) ks "$@" "$SSH_HOST:$src" "$dst" ;;
    esac
}

no_temps() {
    local left
    left=$(find "$1" -name '.ktsync-tmp.*' 2>/dev/null)
    [[ -z $left ]] || die "$2: temp files left: $left"
}

# same_file A B: identical content
same_file() { cmp -s "$1" "$2"; }

# ---------------------------------------------------------------- A. destination disk full
# DST lives on a 16 MiB tmpfs; SRC has a 24 MiB file (DST holds an old 1 MiB version of it)
# among 60 small files. Over the network one stream makes the order deterministic: every
# other file must land. Locally two workers copy at once, so a small file written while
# the disk was momentarily full may fail too: then it must be named in an error.
mkdir -p "$T/small"
if mount -t tmpfs -o size=16m tmpfs "$T/small" 2>/dev/null; then
    at_exit "umount -l '$T/small' 2>/dev/null"
    SRC=$T/src-full
    mkdir -p "$SRC/b" "$SRC/z"
    head -c $((24 << 20)) /dev/urandom >"$SRC/m-big"
    for i in $(seq 1 30); do head -c 8192 /dev/urandom >"$SRC/b/f$i"; head -c 8192 /dev/urandom >"$SRC/z/g$i"; done
    head -c $((1 << 20)) /dev/urandom >"$T/old-big"
    for mode in local push pull local-delete-on-error; do
        DST=$T/small/dst
        rm -rf "$DST"
        mkdir -p "$DST"
        cp -p "$T/old-big" "$DST/m-big"
        echo extraneous >"$DST/zz-extra"
        case $mode in
            local) m=local opts=() ;;
            local-delete-on-error) m=local opts=(--delete-on-error) ;;
            *) m=$mode opts=(--streams 1) ;;
        esac
        assert_exit 23 run_mode "$m" "$SRC" "$DST" "${opts[@]}"
        assert_contains "$ERR" "m-big" "$mode, disk full: the error names the file"
        assert_contains "$ERR" "No space left on device" "$mode, disk full: the error gives the cause"
        same_file "$DST/m-big" "$T/old-big" || die "$mode, disk full: m-big is no longer its old version"
        no_temps "$DST" "$mode, disk full"
        failed=0
        for f in b/f{1..30} z/g{1..30}; do
            if ! same_file "$SRC/$f" "$DST/$f"; then
                grep -qF "$f" "$ERR" || die "$mode, disk full: $f neither mirrored nor reported"
                [[ ! -e $DST/$f ]] || die "$mode, disk full: $f holds partial content"
                failed=$((failed + 1))
            fi
        done
        if [[ $m != local ]]; then
            assert_eq 0 "$failed" "$mode, disk full: all 60 other files mirrored"
        else
            ((failed < 30)) || die "$mode, disk full: only $((60 - failed)) of 60 small files mirrored"
            pass "$mode, disk full: $((60 - failed)) of 60 other files mirrored, the rest reported"
        fi
        if [[ $mode == local-delete-on-error ]]; then
            [[ ! -e $DST/zz-extra ]] || die "--delete-on-error: the extraneous file was kept"
            pass "--delete-on-error: deletions ran despite the error"
        else
            [[ -e $DST/zz-extra ]] || die "$mode, disk full: an extraneous file was deleted after an error"
            assert_contains "$ERR" "deletions were skipped" "$mode, disk full: deletions skipped and said so"
        fi
    done
    # Once the file fits, the next run completes the mirror.
    truncate -s $((4 << 20)) "$SRC/m-big"
    assert_exit 0 k "$SRC" "$T/small/dst"
    tree_identical "$SRC" "$T/small/dst" && pass "disk full: the next run completes the mirror"
    umount -l "$T/small"
else
    note "SKIP disk-full section: cannot mount a tmpfs here"
fi

# ------------------------------------------------- B. permission denied, unreadable sources
# As nobody, two fault sets, each alone (a fault on one side must not hide the other side's
# rule): "src": SRC has a root-only file and a root-only dir (their old copies are in DST);
# "dst": in DST a root-owned dir refuses new files and a root-owned file cannot be replaced.
# Everything else must be mirrored, and nothing deleted: the unreadable SRC dir looks
# exactly like a deleted one.
perm_setup() {  # perm_setup src|dst
    local src=$W/src dst=$W/dst
    rm -rf "$src" "$dst"
    mkdir -p "$src/ok" "$src/secret-dir" "$src/locked"
    for i in 1 2 3; do echo "ok $i" >"$src/ok/f$i"; echo "secret $i" >"$src/secret-dir/s$i"; done
    echo "top secret" >"$src/secret-file"
    echo "locked old" >"$src/locked/old"
    k "$src" "$dst" >/dev/null 2>&1 || die "setup mirror failed"
    echo extraneous >"$dst/zz-extra"
    echo "ok 4 (new)" >"$src/ok/f4"
    echo "ok 1 (changed)" >"$src/ok/f1"
    chown -R nobody "$src" "$dst"
    if [[ $1 == src ]]; then
        echo "secret, changed" >"$src/secret-file"
        chown root "$src/secret-dir" "$src/secret-file"
        chmod 700 "$src/secret-dir"
        chmod 600 "$src/secret-file"
    else
        echo "locked new" >"$src/locked/new"
        echo "locked old, changed" >"$src/locked/old"
        chown root "$dst/locked" "$dst/locked/old"
        chmod 755 "$dst/locked"
    fi
}
# as_nobody MODE [OPTIONS...]: mirror $W/src to $W/dst as nobody (both ends when remote).
as_nobody() {
    local mode=$1
    shift
    rm -f "$W/remote-as-nobody"
    [[ $mode != local ]] && touch "$W/remote-as-nobody"
    local k=("${NOBODY[@]}" "$KTSYNC" mirror --state-dir "$W/state-nobody" --no-progress "$@")
    case $mode in
        local) "${k[@]}" "$W/src" "$W/dst" ;;
        push) "${k[@]}" -e "$NOBODY_SSH" --remote-ktsync "$W/remote-ktsync" "$W/src" "$SSH_HOST:$W/dst" ;;
        pull) "${k[@]}" -e "$NOBODY_SSH" --remote-ktsync "$W/remote-ktsync" "$SSH_HOST:$W/src" "$W/dst" ;;
    esac
}
for faults in src dst; do
    for mode in local push pull; do
        label="$mode, unreadable $faults entries"
        [[ $faults == dst ]] && label="$mode, permission denied in DST"
        perm_setup "$faults"
        assert_exit 23 as_nobody "$mode" -i
        if [[ $faults == src ]]; then refused=(secret-file secret-dir); mirrored=(ok/f1 ok/f2 ok/f3 ok/f4 locked/old)
        else refused=(locked/new locked/old); mirrored=(ok/f1 ok/f2 ok/f3 ok/f4 secret-file secret-dir/s1); fi
        for what in "${refused[@]}"; do
            grep -F "$what" "$ERR" | grep -e "Permission denied" -e "Operation not permitted" >/dev/null ||
                { _show stderr "$(cat "$ERR")"; die "$label: no 'Permission denied' error naming $what"; }
        done
        pass "$label: one error per refused entry, naming it and the cause"
        if [[ $faults == dst ]]; then  # a real run itemizes what it did, when it did it
            for what in "${refused[@]}"; do
                ! grep -qE "^[<>.ch][fdLDS][^ ]* $what\$" "$OUT" || die "$label: $what itemized, though it failed"
            done
            grep -qE '^[<>]f\+{9} ok/f4$' "$OUT" || { _show stdout "$(cat "$OUT")"; die "$label: ok/f4 not itemized"; }
            pass "$label: -i lists the changes made, not the ones that failed"
        fi
        for f in "${mirrored[@]}"; do
            same_file "$W/src/$f" "$W/dst/$f" || die "$label: $f was not mirrored"
        done
        pass "$label: every other file mirrored"
        [[ -e $W/dst/zz-extra ]] || die "$label: the extraneous file was deleted after errors"
        if [[ $faults == src ]]; then
            for i in 1 2 3; do
                [[ $(cat "$W/dst/secret-dir/s$i" 2>/dev/null) == "secret $i" ]] ||
                    die "$label: the copy of the unreadable SRC dir was deleted"
            done
            [[ $(cat "$W/dst/secret-file") == "top secret" ]] || die "$label: the unreadable file's old copy was lost"
        else
            [[ $(cat "$W/dst/locked/old") == "locked old" && ! -e $W/dst/locked/new ]] ||
                die "$label: a refused DST entry changed"
        fi
        pass "$label: nothing deleted, refused entries unchanged"
        no_temps "$W/dst" "$label"
    done
done
# --delete-on-error: the same faults, and the extraneous file goes.
for mode in local pull; do
    perm_setup src
    assert_exit 23 as_nobody "$mode" --delete-on-error
    [[ ! -e $W/dst/zz-extra ]] || die "$mode --delete-on-error: the extraneous file was kept"
    pass "$mode --delete-on-error: deletions ran despite the errors"
done
rm -f "$W/remote-as-nobody"

# ---------------------------------------- C. sources that change while they are being read
# Local: three files change continuously (appended, truncated, replaced by rename) during the
# run. The scan sees one state, the copy another (apply/source_read.h): the appended and
# the truncated file are copied as read (a prefix of what they hold), the replaced one
# (another inode) is reported (exit 24) and keeps its old DST version, the rest is
# mirrored, and nothing is deleted.
SRC=$T/src-chg DST=$T/dst-chg
mkdir -p "$SRC/a" "$SRC/z"
for i in $(seq 1 40); do echo "file $i" >"$SRC/a/f$i"; done
for f in grow shrink replace; do head -c 300000 /dev/urandom >"$SRC/z/$f"; done
assert_exit 0 k "$SRC" "$DST"
for f in grow shrink replace; do cp -p "$DST/z/$f" "$T/old-$f"; done
echo extraneous >"$DST/zz-extra"
for i in $(seq 1 40); do echo "file $i, version 2" >"$SRC/a/f$i"; done
# mutators: keep the three files changing until $T/stop-mut exists.
python3 - "$SRC/z" "$T/stop-mut" <<'EOF' &
import os, sys, time
d, stop = sys.argv[1], sys.argv[2]
open(stop + ".ready", "w").close()
n = 0
while not os.path.exists(stop):
    n += 1
    with open(os.path.join(d, "grow"), "ab") as f:
        f.write(b"x" * 100)
    with open(os.path.join(d, "shrink"), "r+b") as f:
        f.truncate(max(1, 300000 - n * 10))
    tmp = os.path.join(d, ".replace.new")
    with open(tmp, "wb") as f:
        f.write(os.urandom(300000))
    os.rename(tmp, os.path.join(d, "replace"))
    time.sleep(0.001)
EOF
mpid=$!
for i in $(seq 100); do [[ -e $T/stop-mut.ready ]] && break; sleep 0.02; done
assert_exit 24 k "$SRC" "$DST"
touch "$T/stop-mut"
wait "$mpid"
# Usually another inode by the time it is read: refused, named, DST keeps its old version.
# ext4 may hand a freed inode number straight to the next replacement, and then the file
# reads as the listed one, changed: it is copied as read (one whole 300000-byte version).
if same_file "$DST/z/replace" "$T/old-replace"; then
    grep -F "z/replace" "$ERR" | grep -qE "replaced|changed" || { _show stderr "$(cat "$ERR")"; die "local: no warning for z/replace"; }
    pass "local: the replaced file reported, and DST kept its previous version"
else
    (($(stat -c %s "$DST/z/replace") == 300000)) || die "local: z/replace is neither its previous version nor a whole new one"
    pass "local: the replaced file, its inode number reused, was copied as one whole version"
fi
is_prefix() { (($(stat -c %s "$1") <= $(stat -c %s "$2"))) && cmp -s -n "$(stat -c %s "$1")" "$1" "$2"; }
is_prefix "$DST/z/grow" "$SRC/z/grow" && (($(stat -c %s "$DST/z/grow") > 300000)) ||
    die "local: z/grow is not a newer prefix of SRC's"
is_prefix "$DST/z/shrink" "$T/old-shrink" && (($(stat -c %s "$DST/z/shrink") < 300000)) ||
    die "local: z/shrink is not a shorter prefix of what it held"
pass "local: the appended and the truncated file are in DST as read, each a prefix of SRC's content"
for i in $(seq 1 40); do same_file "$SRC/a/f$i" "$DST/a/f$i" || die "local: a/f$i not mirrored"; done
[[ -e $DST/zz-extra ]] || die "local: deletion after a vanished-file problem"
pass "local: the other 40 files mirrored, nothing deleted"
no_temps "$DST" "local, changing sources"
rm -f "$SRC/z/.replace.new"
assert_exit 0 k "$SRC" "$DST"
tree_identical "$SRC" "$DST" && pass "local: once the files hold still, the next run completes the mirror"

# Push and pull at --bwlimit 2M over one stream (each big file ~2 s on the wire): z/big1 grows
# while it is being sent, z/big2 is cut to half while it is being sent (both are read again
# and arrive as they are then), and z/gone is deleted before its turn (exit 24).
# The moments are observed, not guessed: the receiver's temp file for big1 (then big2)
# appearing in DST means that file is on the wire.
wait_temp() {  # wait_temp DIR NAME: until a file is being written into DIR (10 s max)
    wait_in_flight "$1" || die "no transfer of $2 started within 10 s"
}
for mode in push pull; do
    SRC=$T/src-$mode DST=$T/dst-$mode
    rm -rf "$SRC" "$DST" "$T/old"
    mkdir -p "$SRC/a" "$SRC/z1" "$SRC/z2" "$SRC/z3" "$T/old"
    for i in $(seq 1 20); do echo "file $i" >"$SRC/a/f$i"; done
    head -c $((4 << 20)) /dev/urandom >"$SRC/z1/big1"
    head -c $((4 << 20)) /dev/urandom >"$SRC/z2/big2"
    echo "will vanish" >"$SRC/z3/gone"
    # Mirrored the way the run below goes: for a push, the remote end records that ktsync
    # mirrored into DST, so that run is no first mirror (which a dry run would precede).
    assert_exit 0 run_mode "$mode" "$SRC" "$DST"
    cp -a "$DST" "$T/old/dst"
    echo extraneous >"$DST/zz-extra"
    for i in $(seq 1 20); do echo "file $i, version 2" >"$SRC/a/f$i"; done
    head -c $((4 << 20)) /dev/urandom >"$SRC/z1/big1"
    head -c $((4 << 20)) /dev/urandom >"$SRC/z2/big2"
    echo "version 2 (never sent)" >"$SRC/z3/gone"
    run_mode "$mode" "$SRC" "$DST" --streams 1 --bwlimit 2M >"$OUT" 2>"$ERR" &
    pid=$!
    wait_temp "$DST/z1" big1
    head -c 100000 /dev/urandom >>"$SRC/z1/big1"
    rm "$SRC/z3/gone"
    wait_temp "$DST/z2" big2
    truncate -s $((2 << 20)) "$SRC/z2/big2"
    rc=0
    wait "$pid" || rc=$?
    assert_eq 24 "$rc" "$mode: sources changed or vanished mid-send: exit 24"
    grep -qF z3/gone "$ERR" || { _show stderr "$(cat "$ERR")"; die "$mode: no warning naming z3/gone"; }
    same_file "$DST/z3/gone" "$T/old/dst/z3/gone" || die "$mode: z3/gone is not its previous version"
    pass "$mode: the vanished file reported by name, DST kept its previous version"
    for f in z1/big1 z2/big2; do
        same_file "$DST/$f" "$SRC/$f" || die "$mode: $f was not read again after it changed"
    done
    pass "$mode: the files that changed while sent were sent again, as they are now"
    for i in $(seq 1 20); do same_file "$SRC/a/f$i" "$DST/a/f$i" || die "$mode: a/f$i not mirrored"; done
    [[ -e $DST/zz-extra ]] || die "$mode: an extraneous file was deleted although the sender reported problems"
    pass "$mode: every other file mirrored, nothing deleted"
    no_temps "$DST" "$mode, changing sources"
    assert_exit 0 run_mode "$mode" "$SRC" "$DST"
    tree_identical "$SRC" "$DST" && pass "$mode: the next run completes the mirror"
done
