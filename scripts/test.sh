#!/usr/bin/env bash
# test.sh - THE test command (CI runs exactly this): install dependencies, build
# ktsync (normal in ./build, ASan+UBSan in ./build-asan, the .deb in ./build-deb) and
# run every test:
#
#   1. scripts/setup.sh                 apt dependencies + normal build
#   2. build-asan                       -DKTSYNC_SANITIZE=ON (Debug)
#   3. ctest build                      all tests
#   4. ctest build-asan                 labels unit + e2e, leaks and UB are fatal, with the
#                                       fallbacks: KTSYNC_TMPFILE=0 (named temps, as on
#                                       filesystems without O_TMPFILE) and KTSYNC_IO=sync
#                                       (plain syscalls, as where io_uring is blocked)
#   5. fuzz                             every libFuzzer target, bounded time (clang build)
#   6. tests/ktls_vm/run.sh             the real kTLS path in a QEMU VM
#   7. deb-chroot                       the .deb as a packager builds it (build-deb: Release,
#                                       BUILD_TESTING=OFF, cpack -G DEB), installed with apt
#                                       in a clean Debian 12 chroot (tests/deb_chroot/run.sh)
#
# Every stage runs even if an earlier one failed.  The last line is a combined
# summary in ctest's format ("N% tests passed, N tests failed out of N"); a
# failed build or VM run counts as one failed test.  Exit status 0 iff all passed.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
# Development and CI builds: a compiler warning fails the build (setup.sh reads this too;
# the .deb is built as a packager builds it, without).
export KTSYNC_WERROR=ON
REPO=$(pwd)

# Test binaries that must also run on a kTLS kernel (run in the VM when built).
VM_TEST_BINS=(build/tests/tls_channel_test)

PASSED=0
FAILED=0
FAILED_STAGES=()
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/ktsync-test.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT
T0=$(date +%s)

banner() { printf '\n==== test.sh: %s (at %ds) ====\n' "$*" "$(($(date +%s) - T0))"; }

fail_stage() {
    FAILED=$((FAILED + 1))
    FAILED_STAGES+=("$1")
}

# step NAME CMD...: a non-ctest stage; counts as one test.
step() {
    local name=$1
    shift
    banner "$name"
    if "$@"; then
        PASSED=$((PASSED + 1))
    else
        echo "test.sh: FAILED: $name (exit $?)"
        fail_stage "$name"
    fi
}

# build_only NAME CMD...: a build stage; counts only when it fails.
build_only() {
    local name=$1
    shift
    banner "$name"
    "$@" || { echo "test.sh: FAILED: $name"; fail_stage "$name"; }
}

# run_ctest NAME CTEST_ARGS...: run ctest, add its counts from the summary line.
run_ctest() {
    local name=$1 log rc line total failed
    shift
    banner "$name: ctest $*"
    log=$LOGS/$(echo "$name" | tr -c 'A-Za-z0-9\n' _).log
    ctest -j2 --output-on-failure "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1)
    if [[ -n $line ]]; then
        total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
        failed=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
        PASSED=$((PASSED + total - failed))
        FAILED=$((FAILED + failed))
        ((failed == 0)) || FAILED_STAGES+=("$name")
        if ((failed == 0 && rc != 0)); then fail_stage "$name (ctest exit $rc)"; fi
    elif grep -q 'No tests were found' "$log" && ((rc == 0)); then
        echo "test.sh: note: $name found no tests"
    else
        fail_stage "$name (ctest exit $rc, no summary)"
    fi
}

build_asan() {
    # Debug (-O0): with the sanitizers, -O1 compiles ~3-4x slower and the tests
    # gain little from it.
    echo "test.sh: cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKTSYNC_SANITIZE=ON -DKTSYNC_WERROR=ON"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKTSYNC_SANITIZE=ON -DKTSYNC_WERROR=ON \
        >"$LOGS/asan-configure.log" 2>&1 ||
        { cat "$LOGS/asan-configure.log"; return 1; }
    echo "test.sh: cmake --build build-asan -j2"
    cmake --build build-asan -j2 >"$LOGS/asan-build.log" 2>&1 ||
        { cat "$LOGS/asan-build.log"; return 1; }
}

ktls_vm() {
    local bins=() b
    for b in "${VM_TEST_BINS[@]}"; do
        [[ -x $b ]] && bins+=("$b")
    done
    bash tests/ktls_vm/run.sh build/ktsync "${bins[@]}"
}

# fuzz: build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 30)
# on a fresh corpus; any crash, leak or UB report fails the stage.
fuzz() {
    local secs=${FUZZ_SECONDS:-30} t rc=0
    CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DKTSYNC_FUZZ=ON -DKTSYNC_SANITIZE=ON -DKTSYNC_WERROR=ON >"$LOGS/fuzz-configure.log" 2>&1 ||
        { cat "$LOGS/fuzz-configure.log"; return 1; }
    cmake --build build-fuzz -j2 --target wire_fuzz session_fuzz >"$LOGS/fuzz-build.log" 2>&1 ||
        { cat "$LOGS/fuzz-build.log"; return 1; }
    for t in wire_fuzz session_fuzz; do
        mkdir -p "$LOGS/corpus-$t"
        echo "test.sh: $t for ${secs}s"
        if build-fuzz/fuzz/$t -max_total_time="$secs" -print_final_stats=1 "$LOGS/corpus-$t" \
            >"$LOGS/$t.log" 2>&1; then
            grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' "$LOGS/$t.log" | tail -n 2
        else
            tail -n 40 "$LOGS/$t.log"
            rc=1
        fi
    done
    return $rc
}

# deb_chroot: build the package as README's "Install" tells a packager (KTSYNC_WERROR off,
# as there: a release build never fails on a warning; its warnings are listed), then
# install and run it in a fresh bookworm chroot.
deb_chroot() {
    local debs
    echo "test.sh: cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF; cpack -G DEB"
    cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DKTSYNC_WERROR=OFF \
        >"$LOGS/deb-configure.log" 2>&1 ||
        { cat "$LOGS/deb-configure.log"; return 1; }
    cmake --build build-deb -j2 >"$LOGS/deb-build.log" 2>&1 || { cat "$LOGS/deb-build.log"; return 1; }
    grep -E 'warning:' "$LOGS/deb-build.log" | sort -u | sed 's/^/test.sh: release build: /'
    rm -f build-deb/ktsync_*.deb
    (cd build-deb && cpack -G DEB) >"$LOGS/deb-cpack.log" 2>&1 || { cat "$LOGS/deb-cpack.log"; return 1; }
    debs=(build-deb/ktsync_*.deb)
    ((${#debs[@]} == 1)) && [[ -f ${debs[0]} ]] || { echo "test.sh: cpack made no single .deb: ${debs[*]}"; return 1; }
    bash tests/deb_chroot/run.sh "${debs[0]}"
}

build_only "setup (deps + build)" bash scripts/setup.sh
build_only "build-asan" build_asan
run_ctest "build" --test-dir build
# Assignments before a function call are exported for that call only.
# Under ASan the e2e trees stay small: the sanitizer checks code paths, not throughput.
# This pass covers the fallbacks, the normal one the defaults (unnamed files, io_uring).
KTSYNC_TMPFILE=0 KTSYNC_IO=sync KTSYNC_E2E_BIG_MIB=64 KTSYNC_E2E_FILTER_SAMPLE=4 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest "build-asan" --test-dir build-asan -L '^(unit|e2e)$'
step "fuzz" fuzz
step "ktls-vm" ktls_vm
step "deb-chroot" deb_chroot

TOTAL=$((PASSED + FAILED))
PCT=100
((TOTAL == 0)) || PCT=$((PASSED * 100 / TOTAL))
((FAILED == 0 || PCT < 100)) || PCT=99
banner "summary (${REPO})"
if ((FAILED)); then
    echo "test.sh: failed stages: ${FAILED_STAGES[*]}"
fi
echo "test.sh: all stages: $PASSED passed, $FAILED failed, in $(($(date +%s) - T0))s"
echo "${PCT}% tests passed, ${FAILED} tests failed out of ${TOTAL}"
((FAILED == 0))
