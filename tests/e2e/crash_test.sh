#!/usr/bin/env bash
# crash_test.sh - kill -9 of either side at random points of a large run, several seeds.
#
# DST starts as version 1 of a tree; SRC is version 2 (every file rewritten, some resized,
# some deleted, some new). A run V1 -> V2 is killed with SIGKILL after a seeded random delay:
# the local mirror, the client of a push or pull over ssh, or the remote `ktsync serve`.
# While it runs, a sampler reads every file under its final name in DST. Checked:
#   * no file in DST, sampled during the run or found after the kill, holds content that is
#     neither its version 1 nor its version 2 (no torn or mixed file under a final name:
#     that is what writing to a temp and renaming after verification buys; a writer that
#     wrote in place would be caught by the sampler and by the post-kill check);
#   * the next run exits 0, leaves DST identical to SRC with no temp file anywhere, and sends
#     exactly the files whose V2 content had not landed yet (it does not start over, and it
#     does not miss a file because a half-written one looked complete);
#   * --fsync: fdatasync(temp) precedes its rename, and fsync(parent dir) follows it, for
#     every file, and every directory the run creates is followed by an fsync of its parent
#     (else a synced file vanishes with its new directory), locally and on the remote
#     receiver (strace of both); without --fsync there is no fdatasync at all. (A power cut
#     cannot be simulated here; this checks the syscall order that makes a completed file
#     and its rename durable.)
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

V1=$T/v1 V2=$T/v2 DST=$T/dst STATE=$T/state
SEEDS=${KTSYNC_CRASH_SEEDS:-3}

# gen: V1 and V2 (about 60 MB each, 650 files) plus versions.tsv: "path<TAB>hash1<TAB>hash2".
python3 - "$V1" "$V2" "$T/versions.tsv" <<'EOF'
import hashlib, os, random, sys
v1, v2, out = sys.argv[1:4]
rnd = random.Random(42)
files = {}
for d in range(12):
    for f in range(50):
        files["d%02d/s%03d" % (d, f)] = rnd.randrange(0, 64 << 10)
for f in range(20):
    files["m/medium%02d" % f] = rnd.randrange(256 << 10, 2 << 20)
for f in range(2):
    files["big/large%d" % f] = rnd.randrange(6 << 20, 10 << 20)
names = sorted(files)
deleted = set(rnd.sample(names, 30))
added = ["new/n%02d" % i for i in range(30)] + ["d%02d/added" % i for i in range(10)]
versions = {}
def write(root, rel, size, seed, mtime):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    data = random.Random(seed).randbytes(size)
    with open(p, "wb") as fh:
        fh.write(data)
    os.utime(p, ns=(mtime, mtime))
    return hashlib.sha256(data).hexdigest()
for i, rel in enumerate(names):
    h1 = write(v1, rel, files[rel], 3 * i, 1_600_000_000_000_000_000 + i)
    h2 = None
    if rel not in deleted:
        size = files[rel] if rnd.random() < 0.8 else rnd.randrange(0, 64 << 10)
        h2 = write(v2, rel, size, 3 * i + 1, 1_700_000_000_000_000_000 + i)
    versions[rel] = (h1, h2)
for i, rel in enumerate(added):
    versions[rel] = (None, write(v2, rel, rnd.randrange(0, 1 << 20), 100000 + i, 1_700_000_000_000_000_000 + i))
with open(out, "w") as fh:
    for rel, (h1, h2) in sorted(versions.items()):
        fh.write("%s\t%s\t%s\n" % (rel, h1 or "-", h2 or "-"))
EOF
note "V1 $(du -sm "$V1" | cut -f1) MB, V2 $(du -sm "$V2" | cut -f1) MB, $(wc -l <"$T/versions.tsv") paths"

# check_versions DIR: every regular file under DIR (temps skipped) holds its V1 or V2
# content; prints the offenders. Writes the paths whose V2 content has not landed yet
# ("missing"), one per line, to $T/missing.
check_versions() {
    python3 - "$1" "$T/versions.tsv" "$T/missing" <<'EOF'
import hashlib, os, sys
root, vfile, missing_out = sys.argv[1:4]
versions = {}
for line in open(vfile):
    rel, h1, h2 = line.rstrip("\n").split("\t")
    versions[rel] = {h for h in (h1, h2) if h != "-"}, h2
bad, present = [], {}
for dirpath, dirs, files in os.walk(root):
    for name in files:
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        if name.startswith(".ktsync-tmp."):
            continue
        if not os.path.isfile(p) or os.path.islink(p):
            continue
        try:
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()
        except FileNotFoundError:
            continue
        present[rel] = h
        if rel not in versions:
            bad.append("unknown file " + rel)
        elif h not in versions[rel][0]:
            bad.append("%s holds content of no version (sha256 %s)" % (rel, h[:16]))
with open(missing_out, "w") as fh:
    for rel, (_, h2) in sorted(versions.items()):
        if h2 != "-" and present.get(rel) != h2:
            fh.write(rel + "\n")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

# sampler DIR STOPFILE: until STOPFILE exists, check every file under its final name.
# It also stops when STOPFILE's directory is gone: a test that died left it running.
sampler() {
    local n=0
    while [[ ! -e $2 && -d ${2%/*} ]]; do
        check_versions "$1" >>"$T/sampler.bad" || true
        n=$((n + 1))
        sleep 0.02
    done
    echo "$n" >"$T/sampler.rounds"
}

# A wrapper as the remote ktsync: records its pid (so the test kills exactly that process)
# and, while $T/strace.on exists, runs it under strace.
cat >"$T/remote-ktsync" <<EOF
#!/bin/sh
echo \$\$ >"$T/remote.pid"
if [ -e "$T/strace.on" ]; then
    ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"  # LeakSanitizer cannot run under ptrace
    export ASAN_OPTIONS
    exec strace -ff -y -qq -e trace=fdatasync,fsync,rename,renameat,renameat2,linkat,mkdirat -o "$T/remote.strace" "$KTSYNC" "\$@"
fi
exec "$KTSYNC" "\$@"
EOF
chmod 755 "$T/remote-ktsync"
export KTSYNC_STATE_DIR=$T/state-remote
start_sshd

# mode_cmd MODE [OPTIONS...]: sets CMD to the V1 -> V2 run of MODE (local, push, pull).
# An array run as a simple command, so that `CMD &` makes $! the pid of ktsync itself.
# --force-delete: each reset makes DST anew by cp -a, a first mirror every time, whose
# comparing dry run (one more remote ktsync, deletion_guard_test.sh) would blur the kill
# points; the crashes here are those of the real run.
mode_cmd() {
    local mode=$1
    shift
    local ssh=("$KTSYNC" mirror --state-dir "$STATE" --no-progress --force-delete -e "$SSH_CMD" --remote-ktsync "$T/remote-ktsync" "$@")
    case $mode in
        local) CMD=("$KTSYNC" mirror --state-dir "$STATE" --no-progress --force-delete "$@" "$V2" "$DST") ;;
        push) CMD=("${ssh[@]}" "$V2" "$SSH_HOST:$DST") ;;
        pull) CMD=("${ssh[@]}" "$SSH_HOST:$V2" "$DST") ;;
    esac
}

reset_dst() {
    rm -rf "$DST"
    cp -a "$V1" "$DST"
}

remote_gone() {  # waits for the remote serve of the last run to exit
    local pid i
    [[ -s $T/remote.pid ]] || return 0
    pid=$(cat "$T/remote.pid")
    for i in $(seq 200); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    die "remote ktsync $pid still running 10 s after its peer died"
}

# Killed runs are rate-limited so that they last long enough (about 1.5 s of data) for a
# seeded kill point to land inside them on any machine: unthrottled, a fast machine finished
# most runs before their kill. The limiter paces the data, it does not change what is
# written or how, so a kill still lands between (or inside) real writes and renames.
BWLIMIT=${KTSYNC_CRASH_BWLIMIT:-50M}

# remote_started_ns: waits for the remote ktsync of the current run to start (its pid
# file), prints the time.
remote_started_ns() {
    for _ in $(seq 400); do [[ -s $T/remote.pid ]] && break; sleep 0.005; done
    date +%s%N
}

# Timing of an undisturbed (throttled) run, to spread the kill points over it: for the
# local mode from the start, for a remote run from the start of the remote ktsync (the ssh
# login before it is no part of the transfer and varies between machines).
reset_dst
t0=$(date +%s%N)
mode_cmd local --bwlimit "$BWLIMIT"
assert_exit 0 "${CMD[@]}"
local_ms=$((($(date +%s%N) - t0) / 1000000))
reset_dst
rm -f "$T/remote.pid"
mode_cmd push --bwlimit "$BWLIMIT"
"${CMD[@]}" >"$T/undisturbed.out" 2>"$T/undisturbed.err" &
pid=$!
t0=$(remote_started_ns)
wait "$pid" || { _show stderr "$(cat "$T/undisturbed.err")"; die "the undisturbed push failed"; }
pass "the undisturbed push exits 0"
remote_ms=$((($(date +%s%N) - t0) / 1000000))
note "undisturbed runs at --bwlimit $BWLIMIT: local ${local_ms} ms, push over ssh ${remote_ms} ms after the remote started"

KILLS=0 MID_RUN=0 TOTAL_RESENT=0
# crash MODE VICTIM SEED: one killed run, its checks, and the converging rerun.
crash() {
    local mode=$1 victim=$2 seed=$3 span delay rc pid
    [[ $mode == local ]] && span=$local_ms || span=$remote_ms
    delay=$(python3 -c "import random,sys; r=random.Random('$mode-$victim-$seed'); print('%.3f' % (r.uniform(0.03, 0.95) * $span / 1000))")
    reset_dst
    rm -f "$T/remote.pid" "$T/stop" "$T/sampler.bad"
    sampler "$DST" "$T/stop" &
    local spid=$!
    mode_cmd "$mode" --bwlimit "$BWLIMIT"
    "${CMD[@]}" >"$T/killed.out" 2>"$T/killed.err" &
    pid=$!
    [[ $mode == local ]] || remote_started_ns >/dev/null
    sleep "$delay"
    rc=0
    if [[ $victim == server ]]; then
        kill -9 "$(cat "$T/remote.pid")" 2>/dev/null || true
        timeout 60 tail --pid="$pid" -f /dev/null || die "$mode: the client hung after its server was killed"
    else
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || rc=$?
    remote_gone
    touch "$T/stop"
    wait "$spid"
    KILLS=$((KILLS + 1))
    [[ $rc != 0 ]] && MID_RUN=$((MID_RUN + 1))
    local label="$mode, kill $victim after ${delay}s (seed $seed, exit $rc)"
    if [[ -s $T/sampler.bad ]]; then
        _show "seen during the run" "$(sort -u "$T/sampler.bad" | head -n 20)"
        die "$label: a file under its final name held content of no version"
    fi
    check_versions "$DST" >"$T/bad" || { _show bad "$(cat "$T/bad")"; die "$label: torn file after the kill"; }
    pass "$label: every file is V1 or V2 ($(cat "$T/sampler.rounds") sampler rounds, $(wc -l <"$T/missing") still missing)"
    if [[ $victim == server && $rc != 0 ]]; then
        grep -q '^ktsync: ' "$T/killed.err" || die "$label: the client said nothing about its lost server"
        # 255: killed before it said a word (slow ASan start-ups), ssh exits 255 as for a
        # failed login, and the client cannot tell the two apart.
        case $rc in 10 | 12 | 30 | 255) ;; *) _show stderr "$(cat "$T/killed.err")"; die "$label: client exit $rc" ;; esac
    fi
    cp "$T/missing" "$T/missing.expected"
    mode_cmd "$mode" -i
    assert_exit 0 "${CMD[@]}"
    grep -E '^[<>]f' "$OUT" | cut -c13- >"$T/sent" || true
    assert_same_paths "$T/missing.expected" "$T/sent" "$label: the rerun sent exactly the $(wc -l <"$T/missing.expected") missing files"
    TOTAL_RESENT=$((TOTAL_RESENT + $(wc -l <"$T/sent")))
    tree_identical "$V2" "$DST" || die "$label: the rerun did not complete the mirror"
    [[ -z $(find "$DST" -name '.ktsync-tmp.*') ]] || die "$label: temp files left after the rerun"
    pass "$label: the rerun completed the mirror, no temp file left"
}

for seed in ${KTSYNC_CRASH_SEED_LIST:-$(seq 1 "$SEEDS")}; do
    crash local client "$seed"
    crash push client "$seed"
    crash push server "$seed"
    crash pull client "$seed"
    crash pull server "$seed"
done
note "$KILLS kills, $MID_RUN of them mid-run (non-zero exit), $TOTAL_RESENT files re-sent by the reruns"
((MID_RUN * 2 >= KILLS)) || die "most kills landed after the run ended: the test did not exercise crashes"

# ---- --fsync: fdatasync(file) -> linkat or rename to the final name -> fsync(dir), locally
# and remotely.
# check_fsync_order STRACE_PREFIX COUNT: in the per-thread logs of `strace -ff -o PREFIX`,
# every commit (linkat of an unnamed file, or rename of a ktsync temp, over a final name) is
# preceded by an fdatasync of that file and followed by an fsync of its directory, and every
# mkdirat by an fsync of the directory it was made in (same thread); at least COUNT such
# commits and one mkdirat.
check_fsync_order() {
    python3 - "$1" "$2" <<'EOF'
import glob, re, sys
prefix, want = sys.argv[1], int(sys.argv[2])
synced = {}       # tid -> set of temp names fdatasync'ed
pending = {}      # tid -> list of dirs awaiting fsync
commits = mkdirs = 0
problems = []
lines = []
for log in glob.glob(prefix + ".*"):
    tid = log.rsplit(".", 1)[1]
    lines += [(tid, l) for l in open(log)]
for tid, line in lines:
    m = re.match(r"(\w+)\((.*)\)\s+=\s+(-?\d+)", line)
    if not m:
        continue
    call, args = m.group(1), m.group(2)
    if call == "fdatasync":
        t = re.search(r"<([^>]*)>", args)
        if t:
            synced.setdefault(tid, set()).add(t.group(1).rsplit("/", 1)[-1])
    elif call == "linkat" and m.group(3) == "0":
        fds = re.findall(r"<([^>]*)>", args)     # the unnamed file (DIR/#INO), the directory
        names = re.findall(r'"([^"]*)"', args)   # "", the new name
        if len(fds) == 2 and len(names) == 2 and fds[0].rsplit("/", 1)[-1].startswith("#"):
            was_synced = fds[0].rsplit("/", 1)[-1] in synced.get(tid, set())
            if names[1].startswith(".ktsync-tmp."):  # a replace: renamed over the final name next
                if was_synced:
                    synced[tid].add(names[1])
            else:
                commits += 1
                if not was_synced:
                    problems.append("linked without fdatasync: " + names[1])
                pending.setdefault(tid, []).append(fds[1])
    elif call.startswith("rename"):
        names = re.findall(r'"([^"]*)"', args)
        dirs = re.findall(r"<([^>]*)>", args)
        if len(names) == 2 and names[0].startswith(".ktsync-tmp.") and dirs:
            commits += 1
            if names[0] not in synced.get(tid, set()):
                problems.append("renamed without fdatasync: " + names[1])
            pending.setdefault(tid, []).append(dirs[0])
    elif call == "mkdirat" and m.group(3) == "0":
        dirs = re.findall(r"<([^>]*)>", args)
        if dirs:
            mkdirs += 1
            pending.setdefault(tid, []).append(dirs[0])
    elif call == "fsync":
        t = re.search(r"<([^>]*)>", args)
        if t and t.group(1) in pending.get(tid, []):
            pending[tid].remove(t.group(1))
for tid, dirs in pending.items():
    for d in dirs:
        problems.append("directory not fsync'ed after a commit or mkdir in it: " + d)
print("%d commits, %d mkdirs" % (commits, mkdirs))
for p in problems[:10]:
    print(p)
sys.exit(0 if commits >= want and mkdirs > 0 and not problems else 1)
EOF
}

# A part of V2 (fsync per file is slow on some disks): a few hundred files.
FS=$T/fsync-src
mkdir -p "$FS"
cp -a "$V2/d00" "$V2/d01" "$V2/d02" "$V2/m" "$V2/new" "$FS/"
files_in_v2=$(find "$FS" -type f | wc -l)
rm -rf "$DST"
NO_LSAN="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"  # LeakSanitizer cannot run under ptrace
assert_exit 0 env "$NO_LSAN" strace -ff -y -qq -e trace=fdatasync,fsync,rename,renameat,renameat2,linkat,mkdirat -o "$T/local.strace" \
    "$KTSYNC" mirror --state-dir "$STATE" --no-progress --fsync "$FS" "$DST"
check_fsync_order "$T/local.strace" "$((files_in_v2 / 2))" >"$T/fsync.out" ||
    { _show fsync "$(cat "$T/fsync.out")"; die "local --fsync: a file or rename was not made durable"; }
pass "local --fsync: fdatasync before, directory fsync after each rename and mkdir ($(head -1 "$T/fsync.out"))"

rm -rf "$DST"
touch "$T/strace.on"
assert_exit 0 "$KTSYNC" mirror --state-dir "$STATE" --no-progress --fsync -e "$SSH_CMD" --remote-ktsync "$T/remote-ktsync" \
    "$FS" "$SSH_HOST:$DST"
remote_gone
rm "$T/strace.on"
check_fsync_order "$T/remote.strace" "$((files_in_v2 / 2))" >"$T/fsync.out" ||
    { _show fsync "$(cat "$T/fsync.out")"; die "push --fsync: the remote receiver did not make files durable"; }
pass "push --fsync: the remote receiver fdatasyncs and fsyncs its directories ($(head -1 "$T/fsync.out"))"

rm -rf "$DST"
assert_exit 0 env "$NO_LSAN" strace -f -y -qq -e trace=fdatasync -o "$T/nofsync.strace" \
    "$KTSYNC" mirror --state-dir "$STATE" --no-progress "$FS" "$DST"
assert_eq 0 "$(grep -cE 'fdatasync\(.*(ktsync-tmp|/#[0-9]+>)' "$T/nofsync.strace" || true)" \
    "without --fsync no file is fdatasync'ed (so the check above is not vacuous)"
