#!/usr/bin/env bash
# remote_paths_test.sh - remote locations and commands as rsync users write them, over a
# private sshd, pushed and pulled:
#  - host:relative/path and host:~/path under the remote login's home, host:~user/path
#    under that user's;
#  - --remote-ktsync as a command ("nice -n 19 ktsync", "sudo -n ktsync");
#  - an IPv6 loopback remote, user@[::1]:/path (when this host has ::1).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
HOME_DIR=$(getent passwd "$SSH_USER" | cut -d: -f6)
[[ $HOME_DIR == /* ]] || die "no home directory for $SSH_USER"
REL=ktsync-e2e-$$  # beneath the remote home
at_exit "rm -rf '$HOME_DIR/$REL'"

SRC=$T/src
mkdir -p "$SRC/d"
echo one >"$SRC/a"
echo two >"$SRC/d/b"

# k [OPTIONS...] SRC DST, with --remote-ktsync "$RK"
RK=$KTSYNC
k() { "$KTSYNC" mirror --state-dir "$T/state" --no-progress -e "$SSH_CMD" --remote-ktsync "$RK" "$@"; }

# round_trip WHAT REMOTE ABS: push SRC to REMOTE, which must land at ABS, then pull it back.
round_trip() {
    local what=$1 remote=$2 abs=$3
    rm -rf "$abs" "$T/back"
    assert_exit 0 k "$SRC" "$remote"
    tree_identical "$SRC" "$abs" || die "$what: push did not land at $abs"
    assert_exit 0 k "$remote" "$T/back"
    tree_identical "$SRC" "$T/back" || die "$what: pull differs"
    pass "$what: push to $remote lands at $abs, and pulls back"
}

mkdir -p "$HOME_DIR/$REL"
round_trip "relative path" "$SSH_HOST:$REL/rel" "$HOME_DIR/$REL/rel"
round_trip "~/path" "$SSH_HOST:~/$REL/tilde" "$HOME_DIR/$REL/tilde"
round_trip "~user/path" "$SSH_HOST:~$SSH_USER/$REL/tilde-user" "$HOME_DIR/$REL/tilde-user"

# --remote-ktsync is a command; the last word must see the request.
RK="nice -n 19 $KTSYNC"
round_trip "--remote-ktsync 'nice -n 19 ktsync'" "$SSH_HOST:$T/nice" "$T/nice"
if command -v sudo >/dev/null; then
    RK="sudo -n $KTSYNC"
    round_trip "--remote-ktsync 'sudo -n ktsync'" "$SSH_HOST:$T/sudo" "$T/sudo"
else
    note "sudo not installed (scripts/setup.sh installs it): --remote-ktsync 'sudo -n ktsync' not tried"
fi
# A command with shell syntax runs nothing but its words: ';' is part of the program name.
RK="$KTSYNC;touch $T/injected"
assert_fails k "$SRC" "$SSH_HOST:$T/never"
[[ ! -e $T/injected && ! -e $T/never ]] || die "--remote-ktsync ran shell syntax"
assert_contains "$ERR" "remote ktsync not found" "--remote-ktsync words reach the remote shell quoted"
RK=$KTSYNC

if [[ $(ip -6 addr show lo 2>/dev/null) == *::1/128* ]]; then
    round_trip "IPv6 loopback" "$SSH_USER@[::1]:$T/v6" "$T/v6"
else
    note "no ::1 on this host: IPv6 remote not tried"
fi
