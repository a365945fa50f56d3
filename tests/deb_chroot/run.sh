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
# DEBCHROOT_CACHE (default /var/tmp/ktsync-deb-chroot); each run unpacks a fresh copy
# there, so a run never sees what an earlier one installed. Delete the cache to rebuild it.
# Network steps have time limits (debootstrap 900 s, each apt-get 600 s).
set -euo pipefail

CACHE=${DEBCHROOT_CACHE:-/var/tmp/ktsync-deb-chroot}
SUITE=bookworm

say() { echo "deb_chroot: $*"; }
fail() { echo "deb_chroot: FAIL: $*" >&2; exit 1; }
# limited SECONDS CMD...: CMD under timeout (a network step never hangs the stage), run
# as a background job and waited for: timeout puts itself in its own process group, where
# a terminal's ^C does not reach it, and bash runs a trap only after a foreground
# command ends, so an interrupted run would otherwise wait for the step to finish.
CHILD=
limited() {
    local rc=0
    timeout -k 30 "$1" "${@:2}" &
    CHILD=$!
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}
# A signal stops the running step (timeout passes it on), then ends the script through
# exit, so the EXIT traps below (cleanup of a half-made base, or of the run's chroot and
# its /proc mount) run then too.
stop_child() { if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; fi; }
trap 'stop_child; exit 130' INT
trap 'stop_child; exit 143' TERM

DEB=${1:-}
[[ -f $DEB && $DEB == *.deb ]] || fail "usage: $0 path/to/ktsync_VERSION_ARCH.deb"
DEB=$(readlink -f "$DEB")
[[ $(id -u) == 0 ]] || fail "needs root (debootstrap, chroot and mounts)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (bash scripts/setup.sh installs it)"

# host_uri SUITE: the archive this machine's apt uses for SUITE (deb822 .sources or
# one-line sources.list), so the chroot reaches exactly the mirror or snapshot the host
# does: "URI" or, when the host's entry turns the Valid-Until check off (a snapshot's
# Release files have expired), "URI check-valid-until=no"; nothing if the host has no
# such suite.
host_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" } {
            uri = ""; hit = 0; cvu = ""
            for (i = 1; i <= NF; i++) {
                n = split($i, w, /[ \t]+/)
                if (w[1] == "URIs:") uri = w[2]
                if (w[1] == "Suites:") for (j = 2; j <= n; j++) if (w[j] == suite) hit = 1
                if (tolower(w[1]) == "check-valid-until:" && tolower(w[2]) ~ /^(no|false)$/) cvu = " check-valid-until=no"
            }
            if (hit && uri != "") print uri cvu }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        # "deb [opt=val ...] URI SUITE ...": i ends at the URI; i <= NF stops at an
        # unclosed "[" (the loop would never end).
        awk -v suite="$1" '$1 == "deb" {
            i = 2; cvu = ""
            if ($i ~ /^\[/) {
                for (; i <= NF; i++) {
                    if (tolower($i) ~ /check-valid-until=(no|false)/) cvu = " check-valid-until=no"
                    if ($i ~ /\]$/) break
                }
                i++
            }
            if (i < NF && $(i + 1) == suite) print $i cvu }' "$f"
    done
}
MIRROR=$(host_uri "$SUITE" | head -n1)
MIRROR=${MIRROR%% *}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# The host's apt proxy settings (apt.conf syntax, e.g. Acquire::http::Proxy "http://p:3128";):
# copied into the chroot, and its http proxy is debootstrap's unless http_proxy is set.
APT_PROXY_CONF=$(apt-config dump 2>/dev/null | grep -i '^Acquire::[a-z]*::proxy' || true)
APT_HTTP_PROXY=$(sed -n 's|^Acquire::http::Proxy "\(https\{0,1\}://[^"]*\)";$|\1|Ip' <<<"$APT_PROXY_CONF" | head -n1)

# failed STATUS STEP SECONDS: the one-line reason for a network step's exit status.
failed() { if (($1 == 124 || $1 == 137)); then echo "$2 timed out after $3 s"; else echo "$2 failed (exit $1)"; fi; }

BASE=$CACHE/$SUITE-minbase.tar
mkdir -p "$CACHE"
# An interrupted or failed build of the base leaves no half-made root (hundreds of MB),
# no debootstrap mounts and no partial tarball behind.
base_cleanup() {
    umount "$root/proc" "$root/sys" 2>/dev/null || umount -l "$root/proc" "$root/sys" 2>/dev/null || true
    rm -rf --one-file-system "$root" "$root.log" "$BASE.tmp"
}
make_base() {
    local rc=0
    root=$(mktemp -d "$CACHE/build.XXXXXX")
    trap base_cleanup EXIT
    say "debootstrap --variant=minbase $SUITE from $MIRROR (once; cached as $BASE)"
    local -a penv=()
    [[ -z ${http_proxy:-} && -n $APT_HTTP_PROXY ]] && penv=("http_proxy=$APT_HTTP_PROXY")
    limited 900 env "${penv[@]}" debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" \
        >"$root.log" 2>&1 || rc=$?
    if ((rc != 0)); then
        tail -n 30 "$root.log" >&2
        fail "$(failed $rc debootstrap 900) (no network or no Debian archive reachable?)"
    fi
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    # --one-file-system: a mount debootstrap left inside the root is not archived.
    tar -C "$root" --one-file-system -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
    rm -rf --one-file-system "$root" "$root.log"
    trap - EXIT
}
[[ -f $BASE ]] || make_base

# Under the cache dir, not /tmp: /tmp is often a nodev tmpfs, where the chroot's device
# nodes (apt needs /dev/null) would not work.
WORK=$(mktemp -d "$CACHE/run.XXXXXX")
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
# The device nodes come from the tarball: tar cannot make them without CAP_MKNOD, and on
# a nodev filesystem they exist but cannot be opened.
if [[ ! -c $ROOT/dev/null ]] || ! (: >"$ROOT/dev/null") 2>/dev/null; then
    fail "$ROOT/dev/null is no usable character device (no CAP_MKNOD, or $CACHE is on a nodev filesystem)"
fi
mount -t proc proc "$ROOT/proc"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The host's suites: its updates and security archives too, so dependencies resolve as on
# a Debian 12 system kept up to date (the .deb's Depends come from the host's libraries).
# A snapshot's check-valid-until=no is kept.
for suite in "$SUITE" "$SUITE-updates" "$SUITE-security"; do
    read -r uri opts < <(host_uri "$suite" | head -n1) || true
    if [[ -n $uri ]]; then echo "deb ${opts:+[$opts] }$uri $suite main"; fi
done >"$ROOT/etc/apt/sources.list"
grep -q . "$ROOT/etc/apt/sources.list" || echo "deb $MIRROR $SUITE main" >"$ROOT/etc/apt/sources.list"
# The host's apt proxy, so the chroot reaches the archive the way the host does.
if [[ -n $APT_PROXY_CONF ]]; then printf '%s\n' "$APT_PROXY_CONF" >"$ROOT/etc/apt/apt.conf.d/01host-proxy"; fi
cp "$DEB" "$ROOT/tmp/"

# env -i keeps a proxy from the environment (apt and its methods read http_proxy etc.).
proxy_env=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [[ -n ${!v:-} ]] && proxy_env+=("$v=${!v}")
done
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "${proxy_env[@]}" "$@"; }
# apt_root STEP ARGS...: apt-get ARGS in the chroot with a time limit and bounded retries;
# on failure its log, then one line naming STEP.
apt_root() {
    local step=$1 rc=0
    shift
    limited 600 chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${proxy_env[@]}" \
        apt-get -o Acquire::Retries=2 -o Acquire::http::Timeout=30 "$@" >"$WORK/apt.log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$WORK/apt.log" >&2
        fail "$(failed $rc "$step in the chroot" 600)"
    fi
}

say "apt-get install ./$(basename "$DEB") in a fresh $SUITE chroot"
apt_root "apt-get update" update -q
apt_root "apt-get install of the .deb" install -y -q --no-install-recommends "/tmp/$(basename "$DEB")"
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
