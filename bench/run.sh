#!/usr/bin/env bash
# run.sh - THE benchmark command.  See bench/README.md.
#   bench/run.sh [--quick] [--runs N] [--only large,small,many,text,mem] [--scenario push,...]
#                [--data DIR] [--ktsync PATH] [--baseline PATH | --no-baseline]
#                [--mem-runs N] [--dst-fs auto|loop|plain] [--warm]
# Checks the tools it needs, then runs bench/bench.py with the same arguments.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
missing=()
for t in /usr/bin/time rsync socat tar openssl xxhsum ssh ssh-keygen /usr/sbin/sshd python3; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if ((${#missing[@]})); then
    echo "bench: missing: ${missing[*]} (Debian: apt-get install time rsync socat openssh-server openssh-client xxhash)" >&2
    exit 2
fi
exec python3 "$HERE/bench.py" "$@"
