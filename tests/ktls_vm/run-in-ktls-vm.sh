#!/usr/bin/env bash
# run-in-ktls-vm.sh - run one executable inside a throw-away QEMU VM whose kernel
# has kernel TLS (Debian 12's linux-image-*-cloud-amd64, CONFIG_TLS=m), so
# ktsync's kTLS path is tested even on hosts without CONFIG_TLS or /dev/kvm.
# See tests/ktls_vm/NOTES.md for why each step is the way it is.
#
# Usage:
#   run-in-ktls-vm.sh [options] [--] EXECUTABLE [ARGS...]
#
#   EXECUTABLE (static, dynamic, or a #!/bin/sh script for busybox sh) is copied
#   to /work in the VM with the shared libraries ldd lists (same paths).  It runs
#   as root, cwd /work, stdin /dev/null, env KTLSVM=1, with /proc /sys /dev
#   /dev/shm and a tmpfs /tmp mounted, lo up, and the tls module plus the
#   AES-GCM/ChaCha crypto modules loaded.  Its output streams to stdout.
#
# Options:
#   -f HOST[:GUEST]  copy a file or directory into the VM (default GUEST:
#                    /work/<basename>; executables get their libraries); repeatable
#   -e VAR=VALUE     environment variable for the executable; repeatable
#   -t SECONDS       wall-clock limit for the VM (default 1500)
#   -m MIB           guest memory (default 1024)
#   -c N             guest CPUs (default 2)
#   -l FILE          also save the serial console log to FILE
#   -v               verbose: kernel messages and the qemu command line
#   -h               this help
#
# Environment (optional):
#   KTLSVM_CACHE       download/extract cache (default
#                      ${XDG_CACHE_HOME:-$HOME/.cache}/ktsync-ktlsvm)
#   KTLSVM_KERNEL_PKG  kernel package (default: what linux-image-cloud-amd64
#                      depends on, e.g. linux-image-6.1.0-56-cloud-amd64)
#   KTLSVM_ACCEL       tcg (default) | kvm.  KVM is opt-in: a /dev/kvm can be
#                      present yet unusable (nested, see NOTES.md)
#   KTLSVM_CPU         qemu -cpu model (default max; try host with kvm)
#   KTLSVM_NO_INSTALL  1 = never apt-get install missing host tools
#
# Exit status: the executable's own status (read from a marker line carrying a
# random nonce, printed by /init after it ends), or
#   124  the VM did not finish within -t SECONDS
#   125  infrastructure failure (no kernel, qemu failed, no marker, ...)
#
# Host: Debian-family (apt-get, dpkg-deb).  qemu-system-x86, cpio and kmod are
# apt-get installed when missing (as root, unless KTLSVM_NO_INSTALL=1).  The
# kernel .deb (~27 MB) and, if /bin/busybox is not static, busybox-static are
# fetched with `apt-get download` into the cache once (not installed).
set -euo pipefail

die() { echo "run-in-ktls-vm: $*" >&2; exit 125; }
log() { echo "run-in-ktls-vm: $*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
now() { date +%s.%N; }
dur() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# kTLS plus the crypto it may request.  aesni-intel / ghash-clmulni-intel fail
# to load (harmlessly) without AES-NI/PCLMUL; gcm+ctr+ghash-generic are the
# generic "gcm(aes)".
WANT_MODS=(tls aesni-intel ghash-clmulni-intel ctr gcm ghash-generic ccm
           chacha20poly1305 chacha-x86_64 poly1305-x86_64)

parse_args() {
    EXTRA_FILES=()
    ENV_VARS=()
    TIMEOUT=1500
    MEM=1024
    SMP=2
    LOGFILE=
    VERBOSE=0
    local opt
    while getopts ':f:e:t:m:c:l:vh' opt; do
        case $opt in
        f) EXTRA_FILES+=("$OPTARG") ;;
        e) [[ $OPTARG == [A-Za-z_]*=* ]] || die "-e wants VAR=VALUE, got '$OPTARG'"
           ENV_VARS+=("$OPTARG") ;;
        t) TIMEOUT=$OPTARG ;;
        m) MEM=$OPTARG ;;
        c) SMP=$OPTARG ;;
        l) LOGFILE=$OPTARG ;;
        v) VERBOSE=1 ;;
        h) usage; exit 0 ;;
        :) die "option -$OPTARG needs an argument" ;;
        *) usage >&2; exit 125 ;;
        esac
    done
    shift $((OPTIND - 1))
    [[ ${1-} == -- ]] && shift
    [[ $# -ge 1 ]] || { usage >&2; exit 125; }
    [[ -f $1 && -x $1 ]] || die "not an executable file: $1"
    TEST_EXE=$(readlink -f "$1")
    shift
    TEST_ARGS=("$@")
}

# ---------------------------------------------------------------- host tools

APT_UPDATED=0
apt_update() {   # at most once per run, only as root
    ((APT_UPDATED)) && return 0
    APT_UPDATED=1
    [[ $(id -u) == 0 ]] || return 1
    log "apt-get update"
    apt-get update >/dev/null 2>&1
}

ensure_host_tools() {
    local need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    command -v cpio >/dev/null || need+=(cpio)
    PATH=$PATH:/sbin:/usr/sbin command -v depmod >/dev/null || need+=(kmod)
    command -v dpkg-deb >/dev/null || die "dpkg-deb not found: this script wants a Debian/Ubuntu host"
    if ((${#need[@]})); then
        [[ ${KTLSVM_NO_INSTALL:-0} != 1 && $(id -u) == 0 ]] ||
            die "missing host packages: ${need[*]} (apt-get install --no-install-recommends them)"
        log "installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
            apt_update || true
            apt-get install -y --no-install-recommends "${need[@]}" >/dev/null ||
                die "apt-get install ${need[*]} failed"
        }
    fi
    DEPMOD=$(PATH=$PATH:/sbin:/usr/sbin command -v depmod)
    MODPROBE=$(PATH=$PATH:/sbin:/usr/sbin command -v modprobe)
}

# ---------------------------------------------------------------- cache: kernel + busybox

# fetch_pkg NAME: apt-get download + dpkg-deb -x into $CACHE/NAME, once.
fetch_pkg() {
    local pkg=$1 dest=$CACHE/$1
    [[ -f $dest/.complete ]] && return 0
    log "fetching $pkg into $CACHE"
    rm -rf "$dest" "$CACHE/dl"
    mkdir -p "$CACHE/dl"
    # stale apt lists may no longer name a downloadable version: update, retry
    if ! (cd "$CACHE/dl" && apt-get download "$pkg" >/dev/null 2>&1); then
        apt_update || true
        (cd "$CACHE/dl" && apt-get download "$pkg" >/dev/null) || die "apt-get download $pkg failed"
    fi
    dpkg-deb -x "$CACHE"/dl/"$pkg"_*.deb "$dest" || die "dpkg-deb -x $pkg failed"
    rm -rf "$CACHE/dl"
    touch "$dest/.complete"
}

is_static() { [[ -x $1 ]] && ! ldd "$1" >/dev/null 2>&1; }

resolve_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

# Sets BUSYBOX, KROOT, KVER, VMLINUZ.
prepare_cache() {
    CACHE=${KTLSVM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ktsync-ktlsvm}
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock"
    flock 9   # concurrent runs share one download/extraction

    BUSYBOX=/bin/busybox
    if ! is_static "$BUSYBOX"; then
        fetch_pkg busybox-static
        BUSYBOX=$CACHE/busybox-static/bin/busybox
        is_static "$BUSYBOX" || die "no static busybox"
    fi

    local pkg=${KTLSVM_KERNEL_PKG:-}
    if [[ -z $pkg ]]; then
        pkg=$(resolve_kernel_pkg || true)
    fi
    if [[ -z $pkg ]]; then
        # no apt lists: reuse a kernel fetched earlier, else apt-get update
        pkg=$(cd "$CACHE" && find . -maxdepth 2 -path './linux-image-*/.complete' | sort | head -n1 | cut -d/ -f2)
        if [[ -z $pkg ]]; then
            apt_update || true
            pkg=$(resolve_kernel_pkg || true)
        fi
    fi
    [[ -n $pkg ]] || die "cannot resolve the kernel package (apt-get update?) - set KTLSVM_KERNEL_PKG"
    fetch_pkg "$pkg"
    KROOT=$CACHE/$pkg
    KVER=$(find "$KROOT/lib/modules" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | head -n1)
    VMLINUZ=$KROOT/boot/vmlinuz-$KVER
    [[ -f $VMLINUZ ]] || die "no kernel image in $KROOT"
    # the .deb ships no modules.dep (depmod runs at install time)
    [[ -f $KROOT/lib/modules/$KVER/modules.dep ]] || "$DEPMOD" -b "$KROOT" "$KVER" ||
        die "depmod -b $KROOT failed"
    flock -u 9
}

# ---------------------------------------------------------------- initramfs

# copy_with_libs HOST_FILE GUEST_PATH
copy_with_libs() {
    mkdir -p "$ROOT/$(dirname "$2")"
    cp -L "$1" "$ROOT/$2"
    local lib
    while read -r lib; do
        [[ -f $ROOT/$lib ]] && continue
        mkdir -p "$ROOT/$(dirname "$lib")"
        cp -L "$lib" "$ROOT/$lib"
    done < <(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' | grep -v '^/$' || true)
}

# Sets MODLIST (guest paths, in insmod order).
add_modules() {
    local cmd path rel kmods=$ROOT/lib/modules/$KVER
    MODLIST=()
    while read -r cmd path _; do
        [[ $cmd == insmod ]] || continue
        rel=${path#"$KROOT"/lib/modules/"$KVER"/}
        [[ -f $kmods/$rel || -f $kmods/${rel%.*} ]] && continue
        mkdir -p "$(dirname "$kmods/$rel")"
        # busybox insmod wants plain .ko (Debian 12's are; later kernels may not be)
        case $rel in
        *.ko.xz)  xz -dc "$path" >"$kmods/${rel%.xz}"; rel=${rel%.xz} ;;
        *.ko.zst) zstd -qdc "$path" >"$kmods/${rel%.zst}"; rel=${rel%.zst} ;;
        *.ko.gz)  gzip -dc "$path" >"$kmods/${rel%.gz}"; rel=${rel%.gz} ;;
        *)        cp "$path" "$kmods/$rel" ;;
        esac
        MODLIST+=("/lib/modules/$KVER/$rel")
    done < <("$MODPROBE" -d "$KROOT" -S "$KVER" --show-depends -a "${WANT_MODS[@]}" 2>/dev/null)
    grep -q '/tls\.ko$' <<<"$(printf '%s\n' "${MODLIST[@]}")" || die "tls.ko not found for $KVER"
    printf '%s\n' "${MODLIST[@]}" >"$ROOT/etc/ktlsvm-modules"
    "$DEPMOD" -b "$ROOT" "$KVER" 2>/dev/null || true
}

add_extra_files() {
    local spec src dst
    for spec in ${EXTRA_FILES[@]+"${EXTRA_FILES[@]}"}; do
        src=${spec%%:*}
        dst=${spec#*:}
        [[ $spec == *:* ]] || dst=/work/$(basename "$src")
        [[ -e $src ]] || die "no such file: $src"
        if [[ -d $src ]]; then
            mkdir -p "$ROOT/$dst"
            cp -a "$src"/. "$ROOT/$dst"/
        elif [[ -x $src ]] && ldd "$src" >/dev/null 2>&1; then
            copy_with_libs "$src" "$dst"
        else
            mkdir -p "$ROOT/$(dirname "$dst")"
            cp -L "$src" "$ROOT/$dst"
        fi
    done
}

# write_init: /init for busybox sh; ends by printing "$MARK=<status>".
# shellcheck disable=SC2016 # single-quoted $... is for the guest's shell
write_init() {
    local libdirs kv a
    libdirs=$(cd "$ROOT" && find . -path ./lib/modules -prune -o \( -name '*.so' -o -name '*.so.[0-9]*' \) \
        -printf '/%h\n' | sed 's#^/\./#/#' | sort -u | paste -sd: -)
    {
        echo '#!/bin/busybox sh'
        echo '/bin/busybox --install -s'
        echo 'export PATH=/work:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp KTLSVM=1'
        echo "export LD_LIBRARY_PATH=$(sq "$libdirs")"
        cat <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o size=75% tmpfs /tmp
echo /sbin/modprobe >/proc/sys/kernel/modprobe
for m in $(cat /etc/ktlsvm-modules); do
    insmod "$m" 2>/dev/null || echo "ktlsvm: note: insmod $(basename "$m") failed (ok for CPU-specific modules)"
done
grep -q '^tls ' /proc/modules || echo "ktlsvm: WARNING: tls module is not loaded"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
accel=tcg
dmesg | grep -q 'Hypervisor detected: KVM' && accel=kvm
echo "ktlsvm: kernel $(uname -r) ($accel), $(nproc) cpu(s), uptime $(cut -d' ' -f1 /proc/uptime)s, tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
cd /work
EOF
        for kv in ${ENV_VARS[@]+"${ENV_VARS[@]}"}; do
            echo "export ${kv%%=*}=$(sq "${kv#*=}")"
        done
        printf 'echo "ktlsvm: ---- running %s ----"\n' "$(basename "$TEST_EXE")"
        printf '%s' "$(sq "$GUEST_EXE")"
        for a in ${TEST_ARGS[@]+"${TEST_ARGS[@]}"}; do printf ' %s' "$(sq "$a")"; done
        echo ' </dev/null'
        echo 'rc=$?'
        echo 'echo "ktlsvm: ---- exited with status $rc, uptime $(cut -d" " -f1 /proc/uptime)s ----"'
        echo "echo \"$MARK=\$rc\""
        echo 'sync'
        echo 'poweroff -f'
        echo 'sleep 10'
    } >"$ROOT/init"
    chmod 755 "$ROOT/init"
}

build_initramfs() {
    ROOT=$WORK/root
    mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,work,root,etc,lib/modules/"$KVER"}
    cp "$BUSYBOX" "$ROOT/bin/busybox"
    add_modules
    GUEST_EXE=/work/$(basename "$TEST_EXE")
    copy_with_libs "$TEST_EXE" "$GUEST_EXE"
    add_extra_files
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
    printf 'root:x:0:\n' >"$ROOT/etc/group"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' >"$ROOT/etc/hosts"
    printf 'hosts: files\n' >"$ROOT/etc/nsswitch.conf"
    MARK=KTLSVM_EXIT_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
    write_init
    # uncompressed: gunzip under TCG would cost more than the copy
    INITRD=$WORK/initrd.cpio
    (cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$INITRD" ||
        die "cpio failed"
}

# ---------------------------------------------------------------- boot

# Sets QEMU (the command) and ACCEL_DESC.
qemu_command() {
    local accel=${KTLSVM_ACCEL:-tcg} cpu=${KTLSVM_CPU:-max} accel_opt
    case $accel in
    tcg) accel_opt=tcg,thread=multi ;;   # multi-threaded TCG: one host thread per vCPU
    kvm) accel_opt=kvm ;;
    *)   die "KTLSVM_ACCEL must be tcg or kvm" ;;
    esac
    ACCEL_DESC="-accel $accel_opt -cpu $cpu"
    local append="console=ttyS0 panic=-1 oops=panic rdinit=/init mitigations=off"
    ((VERBOSE)) || append+=" quiet loglevel=3"
    QEMU=(qemu-system-x86_64 -machine pc -accel "$accel_opt" -cpu "$cpu" -smp "$SMP" -m "$MEM"
          -nodefaults -no-user-config -display none -serial stdio -net none -pidfile "$WORK/qemu.pid"
          -kernel "$VMLINUZ" -initrd "$INITRD" -append "$append" -no-reboot)
}

boot() {
    qemu_command
    ((VERBOSE)) && log "${QEMU[*]}"
    T_BOOT=$(now)
    log "booting $KVER ($ACCEL_DESC, $SMP cpu, $MEM MiB), initramfs $(($(stat -c %s "$INITRD") / 1024)) KiB, prep $(dur "$T_START" "$T_BOOT")s"
    local console=$WORK/console.log filter qemu_rc rc
    filter="^$MARK=|^\\[ *[0-9.]+\\] reboot: Power down\$"
    ((VERBOSE)) && filter="^$MARK="
    # -serial stdio wants a stdin: /dev/null makes CI (none) and terminals alike.
    # The pipeline runs in the background so that `wait` (unlike a foreground
    # job) lets the INT/TERM trap stop qemu at once.
    {
        rc=0
        timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 || rc=$?
        echo "$rc" >"$WORK/qemu.rc"
    } | tr -d '\r' | tee "$console" | grep --line-buffered -Ev "$filter" &
    wait $! || true
    qemu_rc=$(cat "$WORK/qemu.rc" 2>/dev/null || echo "?")
    T_END=$(now)
    [[ -z $LOGFILE ]] || cp "$console" "$LOGFILE"

    rc=$(sed -n "s/^$MARK=\([0-9]\{1,3\}\)\$/\1/p" "$console" | tail -n1)
    if [[ -n $rc ]]; then
        log "exit status $rc; VM wall time $(dur "$T_BOOT" "$T_END")s, total $(dur "$T_START" "$T_END")s"
        exit "$rc"
    fi
    if [[ $qemu_rc == 124 || $qemu_rc == 137 ]]; then
        log "TIMEOUT: VM still running after ${TIMEOUT}s"
        exit 124
    fi
    log "no exit marker from the VM (qemu exit status $qemu_rc): kernel panic, qemu error or test crash? rerun with -v"
    exit 125
}

# shellcheck disable=SC2317 # invoked by trap
cleanup() {
    local pid
    # qemu.rc exists once qemu has exited: then the pid may belong to someone else
    if [[ ! -f $WORK/qemu.rc ]]; then
        pid=$(cat "$WORK/qemu.pid" 2>/dev/null || true)
        [[ -z $pid ]] || kill "$pid" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

main() {
    parse_args "$@"
    T_START=$(now)
    ensure_host_tools
    prepare_cache
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktlsvm.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    build_initramfs
    boot
}

main "$@"
