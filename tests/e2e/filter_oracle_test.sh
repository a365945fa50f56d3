#!/usr/bin/env bash
# filter_oracle_test.sh - rsync is the oracle for filter rules: several hundred rule lists
# (a table of patterns x rule forms, rsync's man-page examples, merge and dir-merge files,
# -F, --delete-excluded, protect/risk/hide/show, perishable) are applied by rsync and by
# ktsync to the same SRC and starting DST, and the resulting trees must hold the same
# entries (filter_oracle.py says how). The rule-file cases run again pushed and pulled over
# ssh, where the rules cross the wire and each end reads its own per-directory files.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v rsync >/dev/null || die "rsync not found (scripts/setup.sh installs it)"
mkdir "$T/local"
if python3 "$E2E_DIR/filter_oracle.py" "$KTSYNC" "$T/local" >"$T/local.log" 2>&1; then
    pass "local: $(tail -n1 "$T/local.log" | sed 's/^# //')"
else
    cat "$T/local.log"
    die "local runs differ from rsync's"
fi

export KTSYNC_STATE_DIR=$T/state-remote
start_sshd
mkdir "$T/viassh"
if python3 "$E2E_DIR/filter_oracle.py" "$KTSYNC" "$T/viassh" --ssh "$SSH_CMD" "$SSH_HOST" >"$T/ssh.log" 2>&1; then
    pass "over ssh: $(tail -n1 "$T/ssh.log" | sed 's/^# //')"
else
    cat "$T/ssh.log"
    die "runs over ssh differ from rsync's"
fi
