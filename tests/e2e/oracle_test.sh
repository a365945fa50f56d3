#!/usr/bin/env bash
# oracle_test.sh - rsync is the oracle for what a faithful copy keeps: the same SRC trees
# are mirrored by `rsync -aHAXS --numeric-ids --delete` and by ktsync, locally, pushed and
# pulled over ssh, as root and as nobody, fresh and again over a stale DST, and the two
# results are compared entry by entry (tree_identical: type, mode, owner, ns mtime, size,
# content, symlink target, rdev, hard-link groups, every extended attribute and ACL entry).
#
# Cases: extended attributes (user.*, security.capability, trusted.*, on symlinks too),
# stale ones in DST removed, a change of attributes alone itemized with rsync's a/x; POSIX
# ACLs, access and default, with a mask wider than the group's entry (copied without its
# ACL the file would give its group rights it does not have); modification times after
# 2262 (files, directories, symlinks); a 1 GiB sparse file (allocated blocks compared
# too); a read-only directory (0555) whose contents change: as nobody, DST's copy must be
# opened up while it changes and closed again; DST names hard-linked where SRC has
# separate files (ktsync separates them; rsync -H leaves them linked, so that case is
# checked against SRC: README, "Stricter than rsync"); a new name, sorting first, of a
# file DST already has (linked to it, no data sent). As nobody: user.* and ACLs are
# copied, security.* and trusted.* cannot be, and ktsync says so in one warning.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v setfacl >/dev/null || die "setfacl not found (Debian package acl; scripts/setup.sh installs it)"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
nobody_workdir oracle
AS_NOBODY=0

# xattr PATH NAME VALUE: set an attribute on PATH itself (a symlink is not followed).
xattr() { python3 -c 'import os, sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)' "$@"; }
# A file capability (VFS v2 format): cap_net_raw, effective, as on /usr/bin/ping.
capability() {
    python3 -c 'import os, struct, sys; os.setxattr(sys.argv[1], "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))' "$1"
}

# make_src DIR: the tree of attributes and ACLs every case starts from.
make_src() {
    local s=$1
    mkdir -p "$s/d/sub" "$s/acl"
    echo data >"$s/plain"
    echo tagged >"$s/d/tagged"
    xattr "$s/d/tagged" user.mime_type text/plain
    xattr "$s/d/tagged" user.empty ""
    echo ping >"$s/d/ping"
    chmod 755 "$s/d/ping"
    capability "$s/d/ping"
    xattr "$s/d" user.dir yes
    xattr "$s/d" trusted.overlay.opaque y
    xattr "$s/d/sub" security.label top
    ln -s tagged "$s/d/link"
    xattr "$s/d/link" trusted.link-note on-the-link
    echo secret >"$s/acl/wide-mask"
    chmod 640 "$s/acl/wide-mask"
    setfacl -m u:4321:rwx "$s/acl/wide-mask"  # mask rwx: the mode's group bits read rwx
    echo narrow >"$s/acl/narrow-mask"
    setfacl -m u:4321:rwx,g:4322:r,m::r "$s/acl/narrow-mask"
    setfacl -d -m u:4321:rx,g::r "$s/acl"
    echo inherits >"$s/acl/inherited"  # gets an access ACL from the default one
    mkdir "$s/hl" "$s/future"
    echo same >"$s/hl/one"
    echo same >"$s/hl/two"
    chmod 600 "$s/hl/two"
    echo later >"$s/future/file"
    # 1 GiB with two 4 KiB data regions: DST as sparse, only the data on the wire.
    truncate -s 1G "$s/sparse"
    printf 'one%.0s' {1..1365} | dd of="$s/sparse" bs=4096 seek=1000 conv=notrunc status=none
    printf 'two%.0s' {1..1365} | dd of="$s/sparse" bs=4096 seek=200000 conv=notrunc status=none
    ln -s file "$s/future/link"
    mkdir "$s/ro"  # read-only, as unpacked archives and Go module caches are
    echo a >"$s/ro/a"
    echo gone >"$s/ro/gone"
    chmod 555 "$s/ro"
    find "$s" -exec touch -h -d @1700000000 {} +
    # Year 2400 (ext4 keeps times up to 2446): past what an int64 of nanoseconds holds.
    touch -h -d @13569465600.123456789 "$s/future/file" "$s/future/link" "$s/future"
}

# mutate_src DIR / stale_dst DIR: what changes in SRC between the two runs, and what a
# stale DST has that SRC never had.
mutate_src() {
    local s=$1
    xattr "$s/d/tagged" user.mime_type text/x-changed
    python3 -c 'import os, sys; os.removexattr(sys.argv[1], "user.empty")' "$s/d/tagged"
    setfacl -m u:4323:r "$s/plain"
    setfacl -k "$s/acl"
    chmod 755 "$s/ro"
    echo new >"$s/ro/new"
    echo changed >"$s/ro/a"
    rm "$s/ro/gone"
    chmod 555 "$s/ro"
    ln "$s/plain" "$s/a-new-name"  # sorts first: the name DST has comes later in the walk
    echo fresh >"$s/d/fresh"        # created in a DST directory with a default ACL SRC lacks
    touch -h -d @1700000000 "$s/d/tagged" "$s/plain" "$s/acl" "$s/ro" "$s/ro/new"
}
stale_dst() {
    local d=$1
    ln -f "$d/hl/one" "$d/hl/two"
    xattr "$d/d/tagged" user.stale left-over
    xattr "$d/d" trusted.stale left-over
    setfacl -m u:4324:rw "$d/acl/narrow-mask"
    setfacl -d -m u:4325:rwx "$d/d"  # what is created in d/ inherits an ACL it must lose
    touch -h -d @1700000000 "$d/d/tagged" "$d/d" "$d/acl/narrow-mask" "$d/hl"
}

# as_user CMD...: CMD as nobody when AS_NOBODY=1.
as_user() {
    if ((AS_NOBODY)); then "${NOBODY[@]}" "$@"; else "$@"; fi
}

# by_mode MODE SRC DST CMD...: CMD SRC/ DST/ (rsync's "contents of"; all one to ktsync),
# the remote one as $SSH_HOST:PATH (push: DST, pull: SRC), as nobody when AS_NOBODY=1.
by_mode() {
    local mode=$1 src=$2/ dst=$3/
    shift 3
    case $mode in
        push) dst=$SSH_HOST:$dst ;;
        pull) src=$SSH_HOST:$src ;;
    esac
    as_user "$@" "$src" "$dst"
}

# oracle MODE SRC DST: rsync's mirror, in the same mode as ktsync's.
oracle() {
    local ssh=$SSH_CMD path=(rsync)
    ((AS_NOBODY)) && ssh=$NOBODY_SSH path=("${NOBODY[@]}" rsync)
    by_mode "$1" "$2" "$3" rsync -aHAXS --numeric-ids --delete -e "$ssh" --rsync-path "${path[*]}"
}

# mirror MODE SRC DST [OPTIONS...]: ktsync's.
mirror() {
    local mode=$1 src=$2 dst=$3 state=$T/state ssh=$SSH_CMD
    shift 3
    rm -f "$W/remote-as-nobody"
    if ((AS_NOBODY)); then
        state=$W/state-nobody ssh=$NOBODY_SSH
        touch "$W/remote-as-nobody"
    fi
    by_mode "$mode" "$src" "$dst" "$KTSYNC" mirror --state-dir "$state" --no-progress -e "$ssh" \
        --remote-ktsync "$W/remote-ktsync" "$@"
}

# same_as_rsync WHAT: ktsync's DST ($W/k) equals rsync's ($W/r), root included. Where
# rsync leaves DST's own hard links (hl/), ktsync's must equal SRC instead.
same_as_rsync() {
    tree_identical --blocks --skip hl "$W/r" "$W/k" || die "$1: ktsync's DST differs from rsync's"
    tree_identical "$W/src/hl" "$W/k/hl" || die "$1: hl/ is not as in SRC"
    pass "$1: ktsync's DST equals rsync's entry by entry, and hl/ equals SRC's"
}

for who in root nobody; do
    AS_NOBODY=$([[ $who == nobody ]] && echo 1 || echo 0)
    for mode in local push pull; do
        rm -rf "$W/src" "$W/r" "$W/k"
        make_src "$W/src"
        if ((AS_NOBODY)); then
            chown -R nobody:nogroup "$W/src"
            capability "$W/src/d/ping"  # the chown cleared it
            install -d -o nobody -g nogroup "$W/r" "$W/k"
        fi
        oracle "$mode" "$W/src" "$W/r"
        assert_exit 0 mirror "$mode" "$W/src" "$W/k"
        same_as_rsync "$who, $mode, fresh"
        # The oracle is only as good as what it sees: the rows are really there.
        [[ $(stat -c %Y "$W/k/future/file" "$W/k/future/link" "$W/k/future" | sort -u) == 13569465600 ]] ||
            die "$who, $mode: year-2400 times not kept"
        (($(stat -c %b "$W/k/sparse") <= 64)) || die "$who, $mode: the sparse file's holes were filled"
        getfacl -cpn "$W/k/acl/wide-mask" 2>/dev/null | grep -qx 'user:4321:rwx' || die "$who, $mode: ACL not copied"
        if ((!AS_NOBODY)); then
            [[ $(getcap "$W/k/d/ping") == *cap_net_raw=ep ]] || die "$who, $mode: file capability not copied"
        fi
        pass "$who, $mode: year-2400 times, holes, the ACL and (root) the file capability are in DST"
        if ((AS_NOBODY)); then
            # trusted.* is invisible to nobody: only security.* is seen and cannot be set.
            grep -qE 'security\.\* of 2 entries not copied: only root may set them \(first: d/ping\)' "$ERR" ||
                { _show stderr "$(cat "$ERR")"; die "$who, $mode: no warning about security.*"; }
            pass "$who, $mode: one warning names what only root may copy"
        fi

        mutate_src "$W/src"
        if ((AS_NOBODY)); then  # what mutate_src created is nobody's too
            chown -R nobody:nogroup "$W/src"
            capability "$W/src/d/ping"
        fi
        stale_dst "$W/r"  # nobody's runs can neither see nor remove its trusted.stale
        stale_dst "$W/k"
        oracle "$mode" "$W/src" "$W/r"
        assert_exit 0 mirror "$mode" "$W/src" "$W/k" -i
        same_as_rsync "$who, $mode, over a stale DST"
        if [[ $(stat -c %i "$W/r/hl/one") == "$(stat -c %i "$W/r/hl/two")" ]]; then
            note "rsync -H left DST's own hard link hl/one = hl/two in place (ktsync separates them)"
        fi
        if ! grep -qE '^\.f\.{7}\.x d/tagged$' "$OUT" || ! grep -qE '^\.f\.{7}a\. plain$' "$OUT"; then
            _show stdout "$(cat "$OUT")"
            die "$who, $mode: attribute changes not itemized with a/x"
        fi
        pass "$who, $mode: a change of attributes alone is itemized .f.......a. / .f........x"
        if ! grep -qE '^hf.* a-new-name => plain$' "$OUT" || grep -qE '^>f.* a-new-name$' "$OUT"; then
            _show stdout "$(cat "$OUT")"
            die "$who, $mode: a new name of a file DST has was not linked to it"
        fi
        pass "$who, $mode: a new name of a file DST has is linked to it, no data sent"
        assert_exit 0 mirror "$mode" "$W/src" "$W/k" -i
        assert_eq "" "$(cat "$OUT")" "$who, $mode: the next run changes nothing"
    done
done

# --no-xattrs --no-acls: none are read, set or removed (as rsync -aHS).
rm -rf "$W/src" "$W/r" "$W/k"
AS_NOBODY=0
make_src "$W/src"
rsync -aHS --numeric-ids --delete "$W/src/" "$W/r/"
assert_exit 0 mirror local "$W/src" "$W/k" --no-xattrs --no-acls
same_as_rsync "--no-xattrs --no-acls (rsync -aHS)"

