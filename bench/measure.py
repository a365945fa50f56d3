"""measure.py - run one timed command and collect wall time, CPU and peak RSS.

Client side: the command runs under `/usr/bin/time -f '%e %U %S %M'`.  Its CPU
includes every child it waited for (so ssh's client-side crypto counts for
both ktsync and rsync); its RSS is the largest single process of that tree.

Remote side: wrapper scripts (see write_wrappers) run the remote ktsync / rsync
/ tar under /usr/bin/time appending to REMOTE_TIME; several records (a forked
rsync, a second session) are combined: CPU summed, RSS the maximum.

Server CPU: CPU of the finished sshd sessions (sshd crypto + remote command),
from the listening sshd's cutime/cstime (see sshd.py).

Wall time is measured here with a monotonic clock around the whole command.
"""
import os
import subprocess
import time

TIME_FMT = "%e %U %S %M"


def can_drop_caches():
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def drop_caches(allowed):
    """Flush dirty data (untimed) and, when allowed, empty the page cache.
    Two syncs: the first can move a loop-mounted filesystem's dirty pages into
    dirty pages of its backing file, which only the second flushes."""
    subprocess.run(["sync"], check=True)
    subprocess.run(["sync"], check=True)
    if allowed:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


def parse_time_file(path):
    """-> (user_s, sys_s, max_rss_kb, records) summed over all records in PATH."""
    user = sys_ = 0.0
    rss = 0
    n = 0
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split()
        if len(parts) != 4:
            continue  # "Command exited with non-zero status N" and the like
        try:
            _, u, s, m = float(parts[0]), float(parts[1]), float(parts[2]), int(parts[3])
        except ValueError:
            continue
        user += u
        sys_ += s
        rss = max(rss, m)
        n += 1
    if n == 0:
        return None
    return user, sys_, rss, n


def write_wrappers(bin_dir, ktsync, remote_time, remote_state, base=None):
    """Remote-side wrappers; return {"ktsync": path, "rsync": path, "tar": path} and,
    with BASE (the baseline binary), "ktsync-base": the baseline's own remote."""
    os.makedirs(bin_dir, exist_ok=True)
    timed = "exec /usr/bin/time -a -o '%s' -f '%s'" % (remote_time, TIME_FMT)

    def kt(binary):
        return "KTSYNC_STATE_DIR='%s'; export KTSYNC_STATE_DIR\n%s '%s' \"$@\"\n" % (
            remote_state, timed, binary)
    scripts = {
        "ktsync": kt(ktsync),
        "rsync": "%s rsync \"$@\"\n" % timed,
        # tar-remote DST: create DST and unpack stdin into it.
        "tar": "mkdir -p \"$1\" || exit 1\n%s tar -b 512 -xf - -C \"$1\"\n" % timed,
    }
    if base:
        scripts["ktsync-base"] = kt(base)
    paths = {}
    for name, body in scripts.items():
        path = os.path.join(bin_dir, name + "-remote")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n# written by bench/measure.py\n" + body)
        os.chmod(path, 0o755)
        paths[name] = path
    return paths


class Runner:
    """Runs commands with client/remote/server accounting.  sshd may be None."""

    def __init__(self, tmp_dir, sshd):
        self.tmp = tmp_dir
        self.sshd = sshd
        os.makedirs(tmp_dir, exist_ok=True)
        self.client_time = os.path.join(tmp_dir, "client.time")
        self.remote_time = os.path.join(tmp_dir, "remote.time")

    def _rm(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def reset(self):
        """Forget the last run's time files.  Call before starting a side process:
        /usr/bin/time opens its -o file when it starts, not when it writes."""
        self._rm(self.client_time)
        self._rm(self.remote_time)

    def run(self, argv, log_path, side_proc=None):
        """Run ARGV (a list); SIDE_PROC: an already started process that must also
        finish (the receiving end of a pipe ceiling), included in wall time."""
        if side_proc is None:
            self.reset()
        srv0 = None
        if self.sshd:
            self.sshd.wait_idle()
            srv0 = self.sshd.sessions_cpu()
        with open(log_path, "ab") as log:
            t0 = time.monotonic()
            rc = subprocess.run(["/usr/bin/time", "-o", self.client_time, "-f", TIME_FMT]
                                + argv, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL).returncode
            if side_proc is not None:
                side_rc = side_proc.wait()
                rc = rc or side_rc
            wall = time.monotonic() - t0
        res = {"wall": wall, "rc": rc}
        cli = parse_time_file(self.client_time)
        if cli:
            res.update(cli_user=cli[0], cli_sys=cli[1], cli_rss_kb=cli[2])
        if self.sshd:
            if not self.sshd.wait_idle():
                res["note"] = "sshd session still running after the client exited"
            res["srv_cpu"] = self.sshd.sessions_cpu() - srv0
        rem = parse_time_file(self.remote_time)
        if rem:
            res.update(rem_user=rem[0], rem_sys=rem[1], rem_rss_kb=rem[2], rem_procs=rem[3])
        return res
