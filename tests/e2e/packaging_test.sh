#!/usr/bin/env bash
# Packaging: a packager's configure (Release, BUILD_TESTING=OFF) needs no GoogleTest and
# declares no test; `cmake --install` puts the binary, the gzipped man page, the bash, zsh
# and fish completions and the license (as Debian's copyright file) in place; `cpack -G DEB`
# in the build dir makes a .deb with the documented control fields and shared-library
# dependencies that installs with dpkg, whose /usr/bin/ktsync runs (--version, a local
# mirror), whose completions load, whose systemd unit systemd-analyze verifies, and which
# dpkg -r removes completely.
# The package is always removed at exit, also when a check fails.
source "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$KTSYNC")
[[ -f $BUILD/CPackConfig.cmake && -f $BUILD/cmake_install.cmake ]] ||
    die "$BUILD has no CPackConfig.cmake: re-run cmake -S $REPO -B $BUILD"
VERSION=$("$KTSYNC" --version)

# ---- a packager's configure (README "Install"): with BUILD_TESTING=OFF, GoogleTest is not
# looked for and no test is declared, so cpack builds no test binary.
cmake -S "$REPO" -B "$T/packager" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON >"$T/packager.log" 2>&1 ||
    die "configuring with -DBUILD_TESTING=OFF failed: $(tail -n 20 "$T/packager.log")"
cmake --build "$T/packager" --target help >"$T/targets.txt"
grep -E '_test$' "$T/targets.txt" && die "BUILD_TESTING=OFF still declares test targets"
grep -qx '\.\.\. ktsync' "$T/targets.txt" || die "BUILD_TESTING=OFF lost the ktsync target: $(cat "$T/targets.txt")"
pass "configures with BUILD_TESTING=OFF without GoogleTest; no test targets"

# ---- cmake --install into a scratch prefix
cmake --install "$BUILD" --prefix "$T/inst" >"$T/install.log" 2>&1 ||
    die "cmake --install failed: $(tail -n 20 "$T/install.log")"
for f in bin/ktsync share/man/man1/ktsync.1.gz share/bash-completion/completions/ktsync \
    share/zsh/vendor-completions/_ktsync share/fish/vendor_completions.d/ktsync.fish \
    lib/systemd/system/ktsync.service share/doc/ktsync/serve.conf.example share/doc/ktsync/copyright; do
    [[ -f $T/inst/$f ]] || die "cmake --install did not install $f: $(find "$T/inst" -type f)"
done
pass "cmake --install: binary, man page, bash, zsh and fish completions, systemd unit, example config, copyright"
assert_eq "$VERSION" "$("$T/inst/bin/ktsync" --version)" "installed binary runs"
cmp -s <(zcat "$T/inst/share/man/man1/ktsync.1.gz") "$REPO/man/ktsync.1" ||
    die "installed man page differs from man/ktsync.1"
cmp -s "$T/inst/share/bash-completion/completions/ktsync" "$REPO/completions/ktsync.bash" ||
    die "installed bash completion differs from completions/ktsync.bash"
cmp -s "$T/inst/share/fish/vendor_completions.d/ktsync.fish" "$REPO/completions/ktsync.fish" ||
    die "installed fish completion differs from completions/ktsync.fish"
cmp -s "$T/inst/share/doc/ktsync/copyright" "$REPO/LICENSE" || die "installed copyright differs from LICENSE"
pass "installed man page, completions and copyright are the ones in the source tree"

# ---- the Debian package
command -v dpkg >/dev/null || die "dpkg is needed"
command -v cpack >/dev/null || die "cpack is needed"
[[ $(id -u) == 0 ]] || { note "not root: dpkg -i not tested"; exit 0; }
if dpkg-query -W -f='${db:Status-Status}' ktsync 2>/dev/null | grep -qx installed; then
    note "a ktsync package is already installed on this machine; not replacing it: skipped"
    exit 0
fi
if [[ -e /usr/bin/ktsync ]]; then
    note "/usr/bin/ktsync exists and belongs to no package; not overwriting it: skipped"
    exit 0
fi

(cd "$BUILD" && cpack -G DEB -B "$T/pkg") >"$T/cpack.log" 2>&1 || die "cpack failed: $(tail -n 30 "$T/cpack.log")"
DEB=$(find "$T/pkg" -maxdepth 1 -name 'ktsync_*.deb')
[[ -n $DEB && $(wc -l <<<"$DEB") == 1 ]] || die "expected one ktsync_*.deb in $T/pkg: $(ls "$T/pkg")"
pass "cpack -G DEB built $(basename "$DEB")"

field() { dpkg-deb -f "$DEB" "$1"; }
assert_eq ktsync "$(field Package)" "Package: ktsync"
assert_eq "ktsync developers <dev@ktsync.invalid>" "$(field Maintainer)" "Maintainer"
assert_eq utils "$(field Section)" "Section: utils"
assert_eq "$(dpkg --print-architecture)" "$(field Architecture)" "Architecture"
assert_eq "${VERSION#ktsync }" "$(field Version)" "Version matches ktsync --version"
[[ $(field Description) == "mirror directory trees"* && $(field Description | wc -l) -gt 2 ]] ||
    die "Description lacks the summary or the long description: $(field Description)"
pass "Description: $(field Description | head -n1)"
deps=$(field Depends)
for lib in libc6 libssl3 libsqlite3-0 libxxhash0 libzstd1 libstdc++6; do
    [[ $deps == *"$lib"* ]] || die "Depends lacks $lib (dpkg-shlibdeps): $deps"
done
pass "Depends computed by dpkg-shlibdeps: $deps"
dpkg-deb -c "$DEB" | awk '{print $NF}' >"$T/contents.txt"
for f in ./usr/bin/ktsync ./usr/share/man/man1/ktsync.1.gz ./usr/share/bash-completion/completions/ktsync \
    ./usr/share/zsh/vendor-completions/_ktsync ./usr/share/fish/vendor_completions.d/ktsync.fish \
    ./usr/lib/systemd/system/ktsync.service ./usr/share/doc/ktsync/copyright; do
    grep -qxF "$f" "$T/contents.txt" || die "the .deb lacks $f: $(cat "$T/contents.txt")"
done
pass "the .deb holds the binary, man page, completions and copyright under /usr"
if command -v file >/dev/null; then
    dpkg-deb -x "$DEB" "$T/unpacked"
    [[ $(file "$T/unpacked/usr/bin/ktsync") == *', stripped'* ]] || die "binary in the .deb is not stripped"
    pass "binary in the .deb is stripped"
fi

# Install; from here on the package is removed at exit whatever happens.
at_exit "dpkg -s ktsync >/dev/null 2>&1 && dpkg -P ktsync >/dev/null 2>&1"
dpkg -i "$DEB" >"$T/dpkg.log" 2>&1 || die "dpkg -i failed: $(cat "$T/dpkg.log")"
pass "dpkg -i $(basename "$DEB")"
assert_eq "$VERSION" "$(/usr/bin/ktsync --version)" "/usr/bin/ktsync --version"
python3 "$GEN_TREE" "$T/src" --seed 3 --big-mib 1 >/dev/null
assert_exit 0 /usr/bin/ktsync mirror --state-dir "$T/state" "$T/src" "$T/dst"
tree_identical "$T/src" "$T/dst"
pass "the packaged ktsync mirrors a tree"
[[ $(man -w ktsync 2>/dev/null) == /usr/share/man/man1/ktsync.1.gz ]] ||
    die "man -w ktsync does not find the packaged man page: $(man -w ktsync 2>&1)"
pass "man ktsync finds /usr/share/man/man1/ktsync.1.gz"
bash --norc -c 'source /usr/share/bash-completion/completions/ktsync && complete -p ktsync' >/dev/null ||
    die "the packaged bash completion does not load"
pass "the packaged bash completion loads"
if command -v fish >/dev/null; then
    # A HOME of its own: no config of the user's, autoloading from the system dirs only.
    [[ $(HOME=$T/fish-home XDG_CONFIG_HOME=$T/fish-home fish -c 'complete -C "ktsync mirr"' | cut -f1) == mirror ]] ||
        die "fish does not find the packaged completion in its vendor_completions.d"
    pass "fish loads the packaged completion"
fi
if command -v systemd-analyze >/dev/null; then
    (cd / && systemd-analyze verify /usr/lib/systemd/system/ktsync.service) >"$T/verify.log" 2>&1 ||
        die "systemd-analyze verify rejects the packaged unit: $(cat "$T/verify.log")"
    pass "systemd-analyze verify accepts the packaged unit"
else
    note "no systemd-analyze: the unit is not verified"
fi

dpkg -r ktsync >"$T/dpkg.log" 2>&1 || die "dpkg -r failed: $(cat "$T/dpkg.log")"
for f in /usr/bin/ktsync /usr/share/man/man1/ktsync.1.gz /usr/share/bash-completion/completions/ktsync \
    /usr/share/zsh/vendor-completions/_ktsync /usr/share/fish/vendor_completions.d/ktsync.fish \
    /usr/lib/systemd/system/ktsync.service /usr/share/doc/ktsync/copyright; do
    [[ ! -e $f ]] || die "dpkg -r left $f behind"
done
dpkg-query -W -f='${db:Status-Status}' ktsync 2>/dev/null | grep -qx installed && die "ktsync still installed"
pass "dpkg -r removed every file"
