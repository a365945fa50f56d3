#!/usr/bin/env bash
# demo.sh - generate a small demo tree and mirror it with ktsync, showing a first run, a
# change reviewed with --dry-run, and the incremental run that applies it.
#
# Usage: scripts/demo.sh [SRC DST]   (default: a generated tree under /tmp/ktsync-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
KTSYNC=${KTSYNC:-build/ktsync}
[[ -x $KTSYNC ]] || { echo "demo: $KTSYNC not built; run scripts/setup.sh first" >&2; exit 1; }

if [[ $# -ge 2 ]]; then
    SRC=$1 DST=$2
else
    BASE=/tmp/ktsync-demo
    rm -rf "$BASE"
    SRC=$BASE/src DST=$BASE/dst
    python3 tests/e2e/gen_tree.py "$SRC" --big-mib 16 >/dev/null
fi
STATE=${STATE:-/tmp/ktsync-demo-state}

echo "demo: first mirror of $SRC into $DST"
"$KTSYNC" mirror --stats --state-dir "$STATE" "$SRC" "$DST"
if [[ $# -lt 2 ]]; then
    python3 tests/e2e/gen_tree.py "$SRC" --mutate >/dev/null
    echo
    echo "demo: SRC changed; what would a mirror do? (ktsync mirror -n)"
    "$KTSYNC" mirror -n --state-dir "$STATE" "$SRC" "$DST"
    echo
    echo "demo: apply it, incrementally"
    "$KTSYNC" mirror -i --stats --state-dir "$STATE" "$SRC" "$DST"
fi
