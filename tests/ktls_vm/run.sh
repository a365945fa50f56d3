#!/usr/bin/env bash
# run.sh - the kTLS VM test: boot a kernel that has kTLS (QEMU, see NOTES.md)
# and run guest.sh in it with the ktsync binary, a ~300 MiB source tree made by
# tests/e2e/gen_tree.py, and any extra test binaries.
#
# Usage: tests/ktls_vm/run.sh [KTSYNC] [TEST_BINARY...]
#   KTSYNC        default build/ktsync (relative to the repo root)
#   TEST_BINARY   e.g. build/tests/tls_channel_test; copied to /work/tests/ in the VM
#                 (with its shared libraries) and run there; must exit 0
#
# Environment: KTLSVM_TREE_MIB (default 300) source tree size; KTLSVM_TIMEOUT
# (default 900) VM wall-clock limit in seconds; KTLSVM_MEM (default 2048) guest
# MiB; and run-in-ktls-vm.sh's KTLSVM_* variables.
#
# Never skips: a missing binary, a VM that cannot boot (exit 125), a timeout
# (124) or any failed check in the guest makes it exit non-zero.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

say() { echo "ktls_vm: $*"; }
fail() { echo "ktls_vm: FAIL: $*" >&2; exit 1; }

KTSYNC=${1:-$REPO/build/ktsync}
(($# == 0)) || shift
[[ -f $KTSYNC && -x $KTSYNC ]] || fail "no ktsync binary at $KTSYNC (build it first: bash scripts/setup.sh)"

install_deps() {
    local p missing=()
    for p in qemu-system-x86 cpio kmod busybox-static; do
        dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || fail "missing packages ${missing[*]}: apt-get install them as root"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
            fail "apt-get install ${missing[*]} failed (no network?)"
    }
}

install_deps

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ktsync-ktlsvm.XXXXXX")
trap 'chmod -R u+rwX "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

# The foundation tree is ~8 MiB without its big file.
TREE_MIB=${KTLSVM_TREE_MIB:-300}
BIG_MIB=$((TREE_MIB > 8 ? TREE_MIB - 8 : 0))
say "generating the source tree (~$TREE_MIB MiB)"
python3 "$REPO/tests/e2e/gen_tree.py" "$WORK/src" --big-mib "$BIG_MIB"

vm_args=(-m "${KTLSVM_MEM:-2048}" -c 2 -t "${KTLSVM_TIMEOUT:-900}"
         -f "$KTSYNC:/work/ktsync" -f "$WORK/src:/work/src")
guest_args=(/work/ktsync /work/src)
for t in "$@"; do
    [[ -f $t && -x $t ]] || fail "not an executable: $t"
    vm_args+=(-f "$t:/work/tests/$(basename "$t")")
    guest_args+=("/work/tests/$(basename "$t")")
done

rc=0
bash "$HERE/run-in-ktls-vm.sh" "${vm_args[@]}" "$HERE/guest.sh" "${guest_args[@]}" || rc=$?
case $rc in
0)   say "PASS" ;;
124) say "FAIL: the VM did not finish within ${KTLSVM_TIMEOUT:-900}s" ;;
125) say "FAIL: the VM could not start or died (infrastructure failure; rerun run-in-ktls-vm.sh with -v)" ;;
*)   say "FAIL: checks in the VM failed (guest exit $rc)" ;;
esac
exit "$rc"
