# shellcheck shell=bash
# lib.sh - shared helpers for ktsync's end-to-end tests.
#
# A test is run by ctest as `bash tests/e2e/NAME_test.sh /path/to/ktsync /repo` and
# starts with:   source "$(dirname "$0")/lib.sh"
#
# After sourcing: `set -Eeuo pipefail` is on; KTSYNC (absolute path of the binary),
# REPO (source dir), E2E_DIR (this dir), GEN_TREE (gen_tree.py) and T (a fresh
# temp dir, removed on exit unless KTSYNC_KEEP_TMP=1) are set and exported.
#
# Logging is TAP-ish: each passing check prints "ok N - what", a failure prints
# "not ok N - what" plus "# " detail lines and exits 1; at exit "1..N" and a
# PASS/FAIL line are printed.  A command failing outside a check (set -e) is
# reported with its file, line and status.
#
# Helpers (see each function's comment):
#   die MSG | pass MSG | note MSG
#   assert_eq EXPECTED ACTUAL [MSG]
#   assert_exit CODE CMD...            (stdout/stderr kept in $OUT / $ERR)
#   assert_fails CMD... | assert_contains FILE TEXT MSG
#   itemized_paths FILE | json_field FILE EVENT FIELD
#   tree_identical [--no-root] [--blocks] [--no-dir-mtimes] [--skip REL]... A B  (type, mode, owner, ns mtime, size, content,
#                                       symlink target, hard-link groups, xattrs, ACLs)
#   inode_ctime_snapshot DIR > FILE    (NUL-safe "INODE CTIME_NS PATH\0" records)
#   snapshot_changed OLD NEW           (escaped paths whose inode or ctime changed)
#   paths_normalize < in > out         (decode/re-escape \#ooo, sort -u)
#   assert_same_paths EXPECTED ACTUAL [MSG] / assert_subset_paths SMALL BIG [MSG]
#   assert_within_paths ALLOWED LISTED MSG
#   free_port | wait_port PORT [SECONDS] | stop_pid PID
#   start_sshd                         (exports SSH_CMD, SSH_PORT, SSH_KEY, SSH_USER, SSH_HOST)
#   new_secret / kd ARGS...            (a daemon secret in SECRET; a mirror with it)
#   start_daemon ROOT|- [SERVE-OPTIONS]  (needs SECRET; sets DPORT, DPID)
#   in_flight DIR / wait_in_flight DIR [SECONDS]  (a file being written into DIR)
#   at_exit 'shell command'            (run at exit, last registered first)
#
# Path escaping everywhere is gen_tree.py's escape_path(): bytes < 0x20, 0x7f,
# '\' and invalid UTF-8 become \#ooo (rsync's style, but '\' is always escaped).

set -Eeuo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: bash $0 /path/to/ktsync /path/to/repo" >&2
    exit 2
fi
KTSYNC=$(readlink -f "$1")
REPO=$(readlink -f "$2")
[[ -x $KTSYNC ]] || { echo "not ok 1 - ktsync binary not found: $1" >&2; exit 1; }
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN_TREE=$E2E_DIR/gen_tree.py
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/ktsync-$TEST_NAME.XXXXXX")
OUT=$T/.out
ERR=$T/.err
export KTSYNC REPO E2E_DIR GEN_TREE T

_N=0
_CLEANUP=()

at_exit() { _CLEANUP+=("$1"); }

_on_exit() {
    local rc=$? i
    set +e
    trap - ERR
    for ((i = ${#_CLEANUP[@]} - 1; i >= 0; i--)); do
        eval "${_CLEANUP[i]}"
    done
    echo "1..$_N"
    if ((rc == 0)); then
        echo "# PASS $TEST_NAME: $_N checks"
    else
        echo "# FAIL $TEST_NAME: exit status $rc after $_N passing checks"
    fi
    if [[ ${KTSYNC_KEEP_TMP:-0} == 1 ]]; then
        echo "# kept $T"
    else
        chmod -R u+rwX "$T" 2>/dev/null
        rm -rf "$T"
    fi
    exit "$rc"
}
trap _on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'echo "# error: status $? from: $BASH_COMMAND (${BASH_SOURCE[0]}:$LINENO)"' ERR

note() { echo "# $*"; }
pass() { _N=$((_N + 1)); echo "ok $_N - $*"; }
die() {
    echo "not ok $((_N + 1)) - $*"
    trap - ERR
    exit 1
}

# _show LABEL TEXT: print a possibly multi-line value as "# " lines.
_show() {
    echo "# $1:"
    printf '%s\n' "$2" | head -n 40 | sed 's/^/#   | /'
}

# assert_eq EXPECTED ACTUAL [MSG]
assert_eq() {
    local msg=${3:-"equal: $(printf '%q' "$1" | head -c 80)"}
    if [[ $1 == "$2" ]]; then
        pass "$msg"
    else
        _show expected "$1"
        _show actual "$2"
        die "$msg"
    fi
}

# _cmd_str CMD...: a short printable form of a command (paths under $T shown as $T).
_cmd_str() {
    local s
    s=$(printf '%q ' "$@")
    s=${s% }
    s=${s//"$KTSYNC"/ktsync}
    s=${s//"$T"/\$T}
    printf '%s' "${s:0:200}"
}

# assert_exit CODE CMD...: run CMD, require exit status CODE exactly.  Its stdout
# and stderr are left in the files $OUT and $ERR for further checks.
assert_exit() {
    local want=$1 rc=0
    shift
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    if [[ $rc == "$want" ]]; then
        pass "exit $want: $(_cmd_str "$@")"
    else
        _show stdout "$(tail -n 40 "$OUT")"
        _show stderr "$(tail -n 40 "$ERR")"
        die "exit $rc, wanted $want: $(_cmd_str "$@")"
    fi
}

# assert_fails CMD...: CMD exits non-zero, but not by a signal (>= 128) nor by
# timeout(1)'s 124.  Output in $OUT / $ERR, status in $FAIL_RC.
assert_fails() {
    local rc=0
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    FAIL_RC=$rc   # read by the caller
    export FAIL_RC
    if ((rc != 0 && rc != 124 && rc < 128)); then
        pass "fails (exit $rc): $(_cmd_str "$@")"
    else
        _show stdout "$(tail -n 20 "$OUT")"
        _show stderr "$(tail -n 20 "$ERR")"
        die "exit $rc, wanted a failure: $(_cmd_str "$@")"
    fi
}

# assert_contains FILE TEXT MSG: FILE contains TEXT (fixed string, case-sensitive).
assert_contains() {
    if grep -qF -- "$2" "$1"; then
        pass "$3"
    else
        _show "$(basename "$1")" "$(tail -n 30 "$1")"
        die "$3 (no '$2')"
    fi
}

# itemized_paths FILE: the paths named by rsync-style -i lines in FILE (other lines,
# e.g. dry-run totals, skipped; " -> TARGET" of symlinks and " => LEADER" of hard
# links removed; escaped as printed).
itemized_paths() {
    { grep -E '^([<>ch.][fdLDS][-+.a-z]{9}|\*deleting  ) ' "$1" || true; } |
        sed -E -e 's/^(.L.{9} .*) -> .*$/\1/' -e 's/^(h.{10} .*) => .*$/\1/' |
        cut -c13- | sed 's|/$||'
}

# json_field FILE EVENT FIELD [SUBFIELD]: FIELD (or FIELD.SUBFIELD) of the last EVENT
# object in --json output.
json_field() {
    python3 -c '
import json, sys
val = None
for line in open(sys.argv[1]):
    if line.strip():
        obj = json.loads(line)
        if obj.get("event") == sys.argv[2]:
            val = obj.get(sys.argv[3])
            if len(sys.argv) > 4:
                val = val.get(sys.argv[4])
print(val)
' "$@"
}

# _py CODE ARGS...: run python3 with gen_tree.py importable.
_py() {
    local code=$1
    shift
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$E2E_DIR${PYTHONPATH:+:$PYTHONPATH} python3 -c "$code" "$@"
}

# tree_identical [--no-root] A B: compare two trees fully; print the first
# difference (to stderr) and return 1 if they differ.  Compared for every path:
# type; mode (not for symlinks); uid/gid; mtime in ns (symlinks too); size and
# content for regular files; target for symlinks; rdev for devices; every
# extended attribute this process can see, POSIX ACLs included (the filesystem's own
# system.* names aside); and the hard-link structure (the set of paths sharing an
# inode inside the tree).
# --no-root skips the mode, owner and mtime of A and B themselves; --blocks compares the
# allocated blocks of regular files too (holes); --skip REL skips the entry REL and
# everything beneath it; --no-dir-mtimes skips directories' mtimes.
tree_identical() {
    _py '
import os, stat, sys
from gen_tree import escape_path
args = sys.argv[1:]
no_root, blocks, skip, dir_mtimes = False, False, [], True
while args[0].startswith("--"):
    if args[0] == "--no-root":
        no_root, args = True, args[1:]
    elif args[0] == "--no-dir-mtimes":
        dir_mtimes, args = False, args[1:]
    elif args[0] == "--blocks":
        blocks, args = True, args[1:]
    else:  # --skip REL
        skip, args = skip + [os.fsencode(args[1])], args[2:]
a_root, b_root = (os.fsencode(x) for x in args)

def scan(root):
    ents, groups = {}, {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        path = os.path.join(root, rel) if rel else root
        st = os.lstat(path)
        ents[rel] = st
        if stat.S_ISDIR(st.st_mode):
            for name in os.listdir(path):
                stack.append(os.path.join(rel, name) if rel else name)
        elif stat.S_ISREG(st.st_mode):
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
    links = {}
    for paths in groups.values():
        for p in paths:
            links[p] = sorted(paths)
    return ents, links

def xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        if n.startswith("system.") and not n.startswith("system.posix_acl_"):
            continue
        out[n] = os.getxattr(path, n, follow_symlinks=False)
    return out

def kind(m):
    for name in ("DIR", "REG", "LNK", "FIFO", "SOCK", "CHR", "BLK"):
        if getattr(stat, "S_IS" + name)(m):
            return name.lower()
    return "?"

def same_content(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        off = 0
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                for i in range(min(len(x), len(y))):
                    if x[i] != y[i]:
                        return off + i
                return off + min(len(x), len(y))
            if not x:
                return None
            off += len(x)

def differ(rel, what):
    sys.stderr.write("tree_identical: %s: %s\n" % (escape_path(rel) or ".", what))
    sys.exit(1)

ea, la = scan(a_root)
eb, lb = scan(b_root)
for rel in sorted(set(ea) | set(eb)):
    if any(rel == k or rel.startswith(k + b"/") for k in skip):
        continue
    if rel not in eb:
        differ(rel, "only in %s" % args[0])
    if rel not in ea:
        differ(rel, "only in %s" % args[1])
    sa, sb = ea[rel], eb[rel]
    ka, kb = kind(sa.st_mode), kind(sb.st_mode)
    if ka != kb:
        differ(rel, "type %s vs %s" % (ka, kb))
    root_meta = not (no_root and rel == b"")
    if ka != "lnk" and root_meta and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(sb.st_mode):
        differ(rel, "mode %o vs %o" % (stat.S_IMODE(sa.st_mode), stat.S_IMODE(sb.st_mode)))
    if root_meta and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
        differ(rel, "owner %d:%d vs %d:%d" % (sa.st_uid, sa.st_gid, sb.st_uid, sb.st_gid))
    if root_meta and sa.st_mtime_ns != sb.st_mtime_ns and (dir_mtimes or ka != "dir"):
        differ(rel, "mtime_ns %d vs %d" % (sa.st_mtime_ns, sb.st_mtime_ns))
    pa = os.path.join(a_root, rel) if rel else a_root
    pb = os.path.join(b_root, rel) if rel else b_root
    if ka == "reg":
        if sa.st_size != sb.st_size:
            differ(rel, "size %d vs %d" % (sa.st_size, sb.st_size))
        if blocks and sa.st_blocks != sb.st_blocks:
            differ(rel, "allocated blocks %d vs %d (holes)" % (sa.st_blocks, sb.st_blocks))
        off = same_content(pa, pb)
        if off is not None:
            differ(rel, "content differs at byte %d" % off)
        if la[rel] != lb[rel]:
            differ(rel, "hard links {%s} vs {%s}" % (
                ", ".join(map(escape_path, la[rel])), ", ".join(map(escape_path, lb[rel]))))
    elif ka == "lnk":
        ta, tb = os.readlink(pa), os.readlink(pb)
        if ta != tb:
            differ(rel, "symlink target %s vs %s" % (escape_path(ta), escape_path(tb)))
    elif ka in ("chr", "blk") and sa.st_rdev != sb.st_rdev:
        differ(rel, "rdev %x vs %x" % (sa.st_rdev, sb.st_rdev))
    xa, xb = xattrs(pa), xattrs(pb)
    if xa != xb:
        names = sorted(set(xa) | set(xb))
        first = next(n for n in names if xa.get(n) != xb.get(n))
        differ(rel, "xattr %s: %r vs %r" % (first, xa.get(first), xb.get(first)))
' "$@"
}

# new_secret: a fresh daemon secret in $SECRET (mode 0600). kd ARGS...: ktsync mirror with
# it, state under $T, no progress line (a test may define its own kd).
new_secret() {
    SECRET=$T/secret
    head -c 32 /dev/urandom | base64 >"$SECRET"
    chmod 600 "$SECRET"
}
kd() { "$KTSYNC" mirror --state-dir "$T/state" --secret-file "$SECRET" --no-progress "$@"; }

# start_daemon ROOT [SERVE-OPTIONS...]: start a daemon with $SECRET on a free port (stopped at exit);
# sets DPORT and DPID.  Its stderr goes to $T/daemon.$DPORT.log.  ROOT "-": no --root and
# --secret-file (the options name a --config).
start_daemon() {
    local root=$1 attempt tree=()
    shift
    [[ $root == - ]] || tree=(--root "$root" --secret-file "$SECRET")
    for attempt in 1 2 3; do
        DPORT=$(free_port)
        "$KTSYNC" serve --listen "127.0.0.1:$DPORT" "${tree[@]}" \
            --state-dir "$T/state-daemon" -v "$@" >"$T/daemon.$DPORT.log" 2>&1 &
        DPID=$!
        at_exit "kill $DPID 2>/dev/null; wait $DPID 2>/dev/null"
        if wait_port "$DPORT" 10; then
            note "daemon pid $DPID on 127.0.0.1:$DPORT${*:+ ($*)}"
            return 0
        fi
        kill "$DPID" 2>/dev/null || true
        note "daemon attempt $attempt failed: $(tail -n 2 "$T/daemon.$DPORT.log")"
    done
    die "could not start the daemon"
}

# in_flight DIR: true while ktsync is writing a file into DIR: a named temp exists there, or
# a ktsync process holds an unnamed (O_TMPFILE) file in it, whose fd reads "DIR/#INO (deleted)".
# One find over every ktsync's fd table: a fork per fd made one look take longer than a
# file's transfer on a loaded machine, and the file slipped past unseen.
in_flight() {
    compgen -G "$1/.ktsync-tmp.*" >/dev/null && return 0
    local dir fds=() pid
    dir=$(realpath -q "$1") || return 1
    for pid in $(pgrep -x ktsync); do fds+=("/proc/$pid/fd"); done
    ((${#fds[@]})) || return 1
    [[ -n $(find "${fds[@]}" -maxdepth 1 -lname "$dir/#* (deleted)" -print -quit 2>/dev/null) ]]
}

# wait_in_flight DIR [SECONDS]: until in_flight DIR (default 10 s); false on timeout.
wait_in_flight() {
    local end=$((SECONDS + ${2:-10}))
    until in_flight "$1"; do
        ((SECONDS < end)) || return 1
        sleep 0.02
    done
}

# inode_ctime_snapshot DIR: write "INODE CTIME_NS PATH\0" for every regular file
# under DIR (PATH relative to DIR, raw bytes), sorted by PATH, to stdout.  Two
# snapshots are byte-identical iff no regular file was replaced, rewritten,
# chmod'ed, touched, added or removed.
inode_ctime_snapshot() {
    _py '
import os, stat, sys
root = os.fsencode(sys.argv[1])
recs = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in filenames:
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            recs.append((os.path.relpath(p, root), st.st_ino, st.st_ctime_ns))
out = sys.stdout.buffer
for rel, ino, ctime in sorted(recs):
    out.write(b"%d %d %s\0" % (ino, ctime, rel))
' "$1"
}

# snapshot_changed OLD NEW: print (escaped, sorted) the paths present in both
# snapshots whose inode or ctime differ, i.e. files that were rewritten.
snapshot_changed() {
    _py '
import sys
from gen_tree import escape_path
def load(fn):
    d = {}
    for rec in open(fn, "rb").read().split(b"\0"):
        if rec:
            ino, ctime, rel = rec.split(b" ", 2)
            d[rel] = (ino, ctime)
    return d
old, new = load(sys.argv[1]), load(sys.argv[2])
for rel in sorted(set(old) & set(new)):
    if old[rel] != new[rel]:
        print(escape_path(rel))
' "$1" "$2"
}

# paths_normalize: read one path per line (escaped with \#ooo, as ktsync, rsync
# or gen_tree.py print them), write them canonically escaped, sorted, unique.
paths_normalize() {
    _py '
import sys
from gen_tree import escape_path, unescape_path
paths = set()
for line in sys.stdin.buffer.read().split(b"\n"):
    if line:
        paths.add(unescape_path(line.decode("utf-8", "surrogateescape")))
for p in sorted(paths):
    print(escape_path(p))
'
}

# assert_same_paths EXPECTED_FILE ACTUAL_FILE [MSG]: same set of paths.
assert_same_paths() {
    local msg=${3:-"same paths: $(basename "$1") = $(basename "$2")"} d
    if d=$(diff <(paths_normalize <"$1") <(paths_normalize <"$2")); then
        pass "$msg"
    else
        _show "diff (< expected only, > actual only)" "$d"
        die "$msg"
    fi
}

# assert_subset_paths SMALL_FILE BIG_FILE [MSG]: every path in SMALL is in BIG.
assert_subset_paths() {
    local msg=${3:-"paths: $(basename "$1") within $(basename "$2")"} extra
    extra=$(comm -23 <(paths_normalize <"$1") <(paths_normalize <"$2"))
    if [[ -z $extra ]]; then
        pass "$msg"
    else
        _show "not expected" "$extra"
        die "$msg"
    fi
}

# assert_within_paths ALLOWED LISTED MSG: every path in LISTED is in ALLOWED or lies
# beneath one of its paths (a dry run may list the children of a deleted or retyped dir).
assert_within_paths() {
    local extra bad p m ok
    extra=$(comm -23 <(paths_normalize <"$2") <(paths_normalize <"$1"))
    bad=$(while IFS= read -r p; do
        [[ -z $p ]] && continue
        ok=0
        while IFS= read -r m; do
            [[ $p == "$m"/* ]] && { ok=1; break; }
        done <"$1"
        ((ok)) || printf '%s\n' "$p"
    done <<<"$extra")
    assert_eq "" "$bad" "$3"
}

# stop_pid PID: SIGTERM, then SIGKILL if PID is still alive after 5 s; reap it if it
# is our child.  Use in cleanups (at_exit "stop_pid $PID") so an exit never hangs
# on a process that ignores SIGTERM.
stop_pid() {
    local pid=$1 i state
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        # a dead child stays a zombie (state Z) until reaped: count it as gone
        state=$(sed -E 's/.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null || true)
        [[ -n $state && $state != Z ]] || break
        sleep 0.1
    done
    ((i < 50)) || kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# free_port: print a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
'
}

# wait_port PORT [SECONDS]: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
    local port=$1 tries=$((${2:-10} * 20))
    while ((tries-- > 0)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# nobody_workdir NAME (after start_sshd): a world-traversable work dir $W (nobody cannot
# enter $T) holding $W/remote-ktsync, a remote wrapper that drops to nobody, like the
# client, when $W/remote-as-nobody exists; state dirs for nobody on both ends; and
# $NOBODY_SSH, the ssh command with a copy of the key that nobody can read; $NOBODY runs
# a command as nobody.
nobody_workdir() {
    # shellcheck disable=SC2034 # for the sourcing test
    NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    W=$(mktemp -d "/tmp/ktsync-$1.XXXXXX")
    chmod 755 "$W"
    at_exit "chmod -R u+rwX '$W' 2>/dev/null; rm -rf '$W'"
    install -d -o nobody -m 700 "$W/state-nobody" "$W/state-remote-nobody"
    cat >"$W/remote-ktsync" <<EOF
#!/bin/sh
if [ -e "$W/remote-as-nobody" ]; then
    exec setpriv --reuid=nobody --regid=nogroup --clear-groups env KTSYNC_STATE_DIR="$W/state-remote-nobody" "$KTSYNC" "\$@"
fi
exec "$KTSYNC" "\$@"
EOF
    chmod 755 "$W/remote-ktsync"
    install -o nobody -m 600 "$SSH_KEY" "$W/nobody_key"
    # shellcheck disable=SC2034 # for the sourcing test
    NOBODY_SSH=${SSH_CMD//"$SSH_KEY"/"$W/nobody_key"}
}

# in_ns NS CMD...: run CMD inside namespace NS.
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# tbf_sent NS DEV: bytes the tbf qdisc on DEV has sent so far.
tbf_sent() {
    in_ns "$1" tc -s qdisc show dev "$2" | awk '/^qdisc tbf/ { q = 1 } q && /Sent/ { print $2; exit }'
}

# sshd_common_config DIR: the sshd_config lines every private sshd of the tests shares:
# host key, pid file and authorized_keys in DIR, the current user by key only, and SetEnv
# of KTSYNC_*, ASAN_OPTIONS, UBSAN_OPTIONS and LSAN_OPTIONS from this environment, so a
# remote ktsync sees the same settings as the local one.
sshd_common_config() {
    local d=$1 kv setenv=()
    while IFS= read -r kv; do
        [[ $kv == *[[:space:]\"]* ]] || setenv+=("$kv")
    done < <(env | grep -E '^(KTSYNC_[A-Za-z0-9_]*|ASAN_OPTIONS|UBSAN_OPTIONS|LSAN_OPTIONS)=' || true)
    echo "HostKey $d/host_key"
    echo "PidFile $d/sshd.pid"
    echo "AuthorizedKeysFile $d/authorized_keys"
    echo "StrictModes no"
    echo "UsePAM no"
    echo "PermitRootLogin yes"
    echo "PubkeyAuthentication yes"
    echo "PasswordAuthentication no"
    echo "KbdInteractiveAuthentication no"
    echo "AllowUsers $(id -un)"
    echo "MaxStartups 100"
    echo "LogLevel ERROR"
    if ((${#setenv[@]})); then echo "SetEnv ${setenv[*]}"; fi
}

# start_sshd: run a private sshd on 127.0.0.1 (free port, keys and config in
# $T/ssh, stopped at exit) that accepts the current user with a fresh key.
# Exports SSH_CMD (an ssh command line for -e/--rsh style options), SSH_PORT,
# SSH_KEY, SSH_USER and SSH_HOST (user@127.0.0.1); sshd_common_config says the rest.
start_sshd() {
    local d=$T/ssh attempt pid
    mkdir -p "$d"
    chmod 700 "$d"
    [[ -d /run/sshd ]] || mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$d/client_key"
    cp "$d/client_key.pub" "$d/authorized_keys"
    SSH_KEY=$d/client_key
    SSH_USER=$(id -un)
    SSH_HOST=$SSH_USER@127.0.0.1
    for attempt in 1 2 3 4 5; do
        SSH_PORT=$(free_port)
        {
            echo "Port $SSH_PORT"
            echo "ListenAddress 127.0.0.1"
            [[ $(ip -6 addr show lo 2>/dev/null) == *::1/128* ]] && echo "ListenAddress ::1"
            sshd_common_config "$d"
        } >"$d/sshd_config"
        /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" &
        pid=$!
        if wait_port "$SSH_PORT" 10; then
            at_exit "stop_pid $pid"
            SSH_CMD="ssh -p $SSH_PORT -i $SSH_KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
            export SSH_CMD SSH_PORT SSH_KEY SSH_USER SSH_HOST
            # shellcheck disable=SC2086 # SSH_CMD is a command line by design
            $SSH_CMD "$SSH_HOST" true </dev/null ||
                die "sshd on port $SSH_PORT does not accept the test key (see $d/sshd.log)"
            note "sshd on 127.0.0.1:$SSH_PORT (pid $pid)"
            return 0
        fi
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        note "sshd attempt $attempt on port $SSH_PORT failed: $(tail -n 3 "$d/sshd.log" 2>/dev/null | tr '\n' ' ')"
    done
    die "could not start sshd (log: $d/sshd.log)"
}
