#!/usr/bin/env bash
# Mount points inside SRC that -x (the default) does not descend into are named in ONE
# warning per run: the first three and how many more, on a local run, an ssh push (SRC
# here), an ssh pull and a daemon pull (SRC scanned by the remote: the warning reaches the
# client like its other warnings), in --json as a warning event and in --log-file.
# --cross-filesystems descends and warns of nothing; a tree without mounts gets no warning.
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { note "needs root (mount): skipped"; exit 0; }

SRC=$T/src STATE=$T/state
mkdir -p "$SRC"/{a,b,c,d,plain}
echo top >"$SRC/plain/file"
# unmount DIR: a busy mount (a run still closing a file) comes off lazily rather than stay.
unmount() { umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || note "could not unmount $1"; }
# Without CAP_SYS_ADMIN (an unprivileged container's root) nothing can be mounted: skipped.
if ! mount -t tmpfs -o size=4m ktsync-e2e "$SRC/a" 2>"$T/mount.err"; then
    note "cannot mount a tmpfs (needs CAP_SYS_ADMIN): $(head -n1 "$T/mount.err"): skipped"
    exit 0
fi
at_exit "unmount '$SRC/a'"
echo inside >"$SRC/a/file"
# Another filesystem, bind-mounted three times (a bind mount of SRC's own filesystem is no
# boundary).
mkdir -p "$T/elsewhere"
mount -t tmpfs -o size=4m ktsync-e2e "$T/elsewhere" || die "cannot mount a second tmpfs"
at_exit "unmount '$T/elsewhere'"
echo bound >"$T/elsewhere/file"
for m in b c d; do
    mount --bind "$T/elsewhere" "$SRC/$m" || die "cannot bind-mount $SRC/$m"
    at_exit "unmount '$SRC/$m'"
done
km() { "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$@"; }
WANT="SRC has 4 mount points whose contents were not mirrored (-x, the default): a, b, c and 1 more"

# one_warning LABEL: $ERR holds exactly one mount-point warning, the expected one.
one_warning() {
    local n
    n=$(grep -c "mount point" "$ERR" || true)
    [[ $n == 1 ]] || die "$1: $n mount-point warnings, not one: $(cat "$ERR")"
    assert_contains "$ERR" "$WANT" "$1: one warning names the skipped mount points"
}

assert_exit 0 km "$SRC" "$T/local"
one_warning "local"
[[ -d $T/local/a && -z $(ls -A "$T/local/a") && -f $T/local/plain/file ]] || die "local: -x did not mirror as before"

assert_exit 0 km --json --log-file "$T/run.log" "$SRC" "$T/json"
[[ $(grep -c '"event":"warning".*mount points' "$OUT") == 1 ]] || die "--json: not one warning event: $(cat "$OUT")"
pass "--json: one warning event"
[[ $(grep -c "warning: $WANT" "$T/run.log") == 1 ]] || die "--log-file: the warning is not logged once: $(cat "$T/run.log")"
pass "--log-file: the warning is logged once"

assert_exit 0 km --cross-filesystems "$SRC" "$T/cross"
! grep -q "mount point" "$ERR" || die "--cross-filesystems warned: $(cat "$ERR")"
[[ $(cat "$T/cross/b/file") == bound ]] || die "--cross-filesystems did not descend"
pass "--cross-filesystems: descends, no warning"

assert_exit 0 km "$SRC/plain" "$T/plain"
! grep -q "mount point" "$ERR" || die "a tree without mounts got a warning: $(cat "$ERR")"
pass "no mount point, no warning"

start_sshd
assert_exit 0 km -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$SRC" "$SSH_HOST:$T/push"
one_warning "ssh push"
assert_exit 0 km -e "$SSH_CMD" --remote-ktsync "$KTSYNC" "$SSH_HOST:$SRC" "$T/pull"
one_warning "ssh pull (SRC scanned remotely)"
[[ -d $T/pull/a && -z $(ls -A "$T/pull/a") ]] || die "ssh pull: the mount point was descended"

new_secret
start_daemon "$T"
assert_exit 0 kd "ktsync://127.0.0.1:$DPORT/src" "$T/dpull"
one_warning "daemon pull"
