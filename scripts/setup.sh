#!/usr/bin/env bash
# setup.sh - install ktsync's build and test dependencies (Debian 12) and build it.
#
# Usage: scripts/setup.sh [--no-build]
#
# Idempotent: packages already installed are not touched, and apt-get runs
# (update, then install) only when something is missing.  Run as root, or as a
# user with passwordless sudo.  The build goes to ./build (RelWithDebInfo).
set -euo pipefail

cd "$(dirname "$0")/.."

BUILD=1
for arg in "$@"; do
    case $arg in
    --no-build) BUILD=0 ;;
    -h | --help) sed -n '2,9{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

step() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# Quiet on success; the full log is printed when a step fails.
run_logged() {   # run_logged LOGFILE CMD...
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
}

# Every name here exists in Debian 12 (checked with apt-cache policy).
PACKAGES=(
    cmake g++ pkg-config liburing-dev libssl-dev libxxhash-dev xxhash
    libsqlite3-dev sqlite3 libcli11-dev libgtest-dev libgmock-dev
    openssh-server openssh-client rsync socat tmux iproute2 python3 groff-base
    clang libclang-rt-14-dev qemu-system-x86 cpio kmod busybox-static
    procps time file acl sudo libzstd-dev nftables
    zsh fish       # the completion tests run fish's and parse zsh's
    dpkg-dev       # cpack -G DEB: dpkg-shlibdeps computes the package's Depends
    debootstrap    # test.sh's deb-chroot stage: the .deb in a clean Debian 12
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
    step "all ${#PACKAGES[@]} packages already installed"
else
    SUDO=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root: rerun as root"
        SUDO=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    step "apt-get update (missing: ${missing[*]})"
    LOG=$(mktemp)
    trap 'rm -f "$LOG"' EXIT
    run_logged "$LOG" "${SUDO[@]}" apt-get update -q ||
        echo "setup: WARNING: apt-get update failed (no network?); trying the install with the current package lists" >&2
    step "apt-get install ${#missing[@]} package(s)"
    run_logged "$LOG" "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" ||
        die "apt-get install ${missing[*]} failed (no network or no Debian 12 mirror reachable?)"
fi

if ((BUILD)); then
    mkdir -p build
    # Warnings are errors where scripts/test.sh runs this (development, CI), not otherwise.
    step "configure: cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKTSYNC_WERROR=${KTSYNC_WERROR:-OFF}"
    run_logged build/configure.log cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DKTSYNC_WERROR="${KTSYNC_WERROR:-OFF}" ||
        die "cmake configure failed (log above, also in build/configure.log)"
    step "build: cmake --build build -j2"
    run_logged build/build.log cmake --build build -j2 ||
        die "build failed (log above, also in build/build.log)"
    step "built build/ktsync"
fi
