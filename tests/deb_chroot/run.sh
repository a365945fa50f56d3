#!/usr/bin/env bash
# run.sh - the .deb in a clean Debian 12: install the package with apt in a fresh
# minbase bookworm chroot (its dependencies resolve from the Debian archive, nothing from
# this machine), then run the installed /usr/bin/ktsync there: --version, the man page,
# and a local mirror of a small tree compared with its source.
#
# Usage: tests/deb_chroot/run.sh KTSYNC_DEB
#   KTSYNC_DEB   the package, e.g. from: cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release
#                -DBUILD_TESTING=OFF && cmake --build build-deb && (cd build-deb && cpack -G DEB)
#
# Needs root (debootstrap, chroot, mounts) and the Debian archive that this machine's apt
# sources name (the only network access). The base system is made once with
# `debootstrap --variant=minbase bookworm` and cached as a tarball under
# DEBCHROOT_CACHE (default /var/tmp/ktsync-deb-chroot); each run unpacks a fresh copy,
# so a run never sees what an earlier one installed. Delete the cache to rebuild it.
set -euo pipefail

CACHE=${DEBCHROOT_CACHE:-/var/tmp/ktsync-deb-chroot}
SUITE=bookworm

say() { echo "deb_chroot: $*"; }
fail() { echo "deb_chroot: FAIL: $*" >&2; exit 1; }

DEB=${1:-}
[[ -f $DEB && $DEB == *.deb ]] || fail "usage: $0 path/to/ktsync_VERSION_ARCH.deb"
DEB=$(readlink -f "$DEB")
[[ $(id -u) == 0 ]] || fail "needs root (debootstrap, chroot and mounts)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (bash scripts/setup.sh installs it)"

# host_uri SUITE: the archive this machine's apt uses for SUITE (deb822 .sources or
# one-line sources.list), so the chroot reaches exactly the mirror, proxy or snapshot the
# host does; nothing if the host has no such suite.
host_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" } {
            uri = ""; hit = 0
            for (i = 1; i <= NF; i++) {
                n = split($i, w, /[ \t]+/)
                if (w[1] == "URIs:") uri = w[2]
                if (w[1] == "Suites:") for (j = 2; j <= n; j++) if (w[j] == suite) hit = 1
            }
            if (hit && uri != "") print uri }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk -v suite="$1" '$1 == "deb" {
            i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++
            if ($i ~ /\]$/ && $2 ~ /^\[/) i++
            if ($(i + 1) == suite) print $i }' "$f"
    done
}
MIRROR=$(host_uri "$SUITE" | head -n1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

BASE=$CACHE/$SUITE-minbase.tar
make_base() {
    local root
    mkdir -p "$CACHE"
    root=$(mktemp -d "$CACHE/build.XXXXXX")
    say "debootstrap --variant=minbase $SUITE from $MIRROR (once; cached as $BASE)"
    if ! debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1; then
        tail -n 30 "$root.log" >&2
        umount "$root/proc" "$root/sys" 2>/dev/null || true
        rm -rf --one-file-system "$root" "$root.log"
        fail "debootstrap failed (no network or no Debian archive reachable?)"
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
    rm -rf --one-file-system "$root" "$root.log"
}
[[ -f $BASE ]] || make_base

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktsync-deb-chroot.XXXXXX")
ROOT=$WORK/root
# Only /proc is mounted (debootstrap made the device nodes apt needs; no bind mount of
# the host's /dev that a cleanup could descend into), and the cleanup never crosses
# into another filesystem.
cleanup() {
    umount "$ROOT/proc" 2>/dev/null || umount -l "$ROOT/proc" 2>/dev/null || true
    rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$BASE"
mount -t proc proc "$ROOT/proc"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The host's suites: its updates and security archives too, so dependencies resolve as on
# a Debian 12 system kept up to date (the .deb's Depends come from the host's libraries).
for suite in "$SUITE" "$SUITE-updates" "$SUITE-security"; do
    uri=$(host_uri "$suite" | head -n1)
    if [[ -n $uri ]]; then echo "deb $uri $suite main"; fi
done >"$ROOT/etc/apt/sources.list"
grep -q . "$ROOT/etc/apt/sources.list" || echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
cp "$DEB" "$ROOT/tmp/"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }

say "apt-get install ./$(basename "$DEB") in a fresh $SUITE chroot"
in_root apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; fail "apt-get update in the chroot failed"; }
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$DEB")" >"$WORK/apt.log" 2>&1 ||
    { cat "$WORK/apt.log" >&2; fail "apt-get install of the .deb failed"; }
grep -E '^(Setting up|Unpacking) ' "$WORK/apt.log" | sed 's/^/deb_chroot:   /'
in_root dpkg-query -W -f='${db:Status-Status}' ktsync | grep -qx installed || fail "dpkg does not list ktsync as installed"

# The checks run inside the chroot with the chroot's own tools only.
in_root /bin/sh -eu -c '
    say() { echo "deb_chroot: [chroot] $*"; }
    v=$(ktsync --version)
    say "ktsync --version: $v"
    test "$(command -v ktsync)" = /usr/bin/ktsync
    test -f /usr/share/man/man1/ktsync.1.gz
    gzip -t /usr/share/man/man1/ktsync.1.gz
    say "man page installed: /usr/share/man/man1/ktsync.1.gz"
    test -f /usr/share/doc/ktsync/copyright
    mkdir -p /tmp/src/dir/sub /tmp/src/empty
    printf "hello\n" >/tmp/src/a.txt
    head -c 300000 /dev/urandom >/tmp/src/dir/big.bin
    ln -s a.txt /tmp/src/link
    ln /tmp/src/a.txt /tmp/src/dir/sub/hardlink
    chmod 640 /tmp/src/dir/big.bin
    touch -d "2001-02-03 04:05:06.123456789" /tmp/src/dir/sub
    # Twice: the first copies, the second (an incremental run, with the hash cache) must
    # find nothing to do and leave the copy as it is.
    ktsync mirror --no-progress --state-dir /tmp/state /tmp/src /tmp/dst
    ktsync mirror --no-progress --state-dir /tmp/state /tmp/src /tmp/dst
    # The same entries with the same type, mode, size, mtime (ns) and link targets,
    # the same hard-link grouping, and the same contents.
    list() { cd "$1" && find . -printf "%p %y %m %s %T@ %l %n\n" | sort; }
    test "$(list /tmp/src)" = "$(list /tmp/dst)"
    (cd /tmp/src && find . -type f -exec cmp {} /tmp/dst/{} \;)
    test "$(stat -c %i /tmp/dst/a.txt)" = "$(stat -c %i /tmp/dst/dir/sub/hardlink)"
    say "ktsync mirror: /tmp/dst is identical to /tmp/src ($(find /tmp/dst | wc -l) entries)"
' || fail "the installed ktsync failed a check in the chroot (the last command above)"
say "PASS"
