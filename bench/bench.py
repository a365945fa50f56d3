#!/usr/bin/env python3
"""bench.py - ktsync vs rsync / cp / tar benchmark (run it through bench/run.sh).

For every dataset and scenario (see tools.py) each tool runs --runs times
(--info-runs for rows the issue sets no target for, to fit the full run in
about half an hour), alternating (round r starts with the r-th tool), each run
from a freshly reset
destination, with ktsync's state databases wiped and (when allowed) the page
cache dropped.  The first run of every tool is verified against the expected
tree with `rsync -ani --delete`.  Results: DATA/results/<time>/{results.json,
results.csv,report.md,logs/} and bench/results/latest.md.
"""
import argparse
import csv
import datetime
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ceilings  # noqa: E402
import gen_dataset  # noqa: E402
import report  # noqa: E402
import tools  # noqa: E402
from dstfs import DstFs  # noqa: E402
from measure import Runner, can_drop_caches, drop_caches, write_wrappers  # noqa: E402
from sshd import PrivateSshd, free_port  # noqa: E402

DATASETS = ["large", "small", "many"]
T0 = time.monotonic()
ITEM_RE = re.compile(r"^(\*deleting  |[<>ch.*][fdLDS][.+a-zA-Z?]{9}) ")


def progress(msg):
    print("[bench %s +%4.0fs] %s" % (time.strftime("%H:%M:%S"), time.monotonic() - T0, msg),
          file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small datasets (large 4x64 MiB, many 20k, mem 100k), 1 run each")
    p.add_argument("--runs", type=int, help="timed runs per tool (default 3, --quick 1)")
    p.add_argument("--info-runs", type=int,
                   help="runs of rows without a target (default: min(--runs, 2))")
    p.add_argument("--mem-runs", type=int, default=1, help="runs of the 1M-entry memory bench")
    p.add_argument("--only", action="append", default=[],
                   help="dataset(s) to run: large, small, many, mem (repeatable, comma list)")
    p.add_argument("--scenario", action="append", default=[],
                   help="scenario(s): " + ", ".join(tools.SCENARIO_ORDER))
    p.add_argument("--data", default="/var/tmp/ktsync-bench", help="data dir")
    p.add_argument("--ktsync", default=os.path.join(os.path.dirname(HERE), "build", "ktsync"))
    p.add_argument("--dst-fs", choices=["auto", "loop", "plain"], default="auto",
                   help="where destinations live (see dstfs.py)")
    p.add_argument("--warm", action="store_true", help="never drop the page cache")
    p.add_argument("--no-ceilings", action="store_true")
    a = p.parse_args(argv)
    a.runs = a.runs or (1 if a.quick else 3)
    a.info_runs = a.info_runs or min(a.runs, 2)
    a.only = [x for v in a.only for x in v.split(",") if x] or DATASETS + ["mem"]
    a.scenario = [x for v in a.scenario for x in v.split(",") if x] or tools.SCENARIO_ORDER
    for x in a.only:
        if x not in DATASETS + ["mem"]:
            p.error("unknown dataset " + x)
    for x in a.scenario:
        if x not in tools.SCENARIO_ORDER:
            p.error("unknown scenario " + x)
    a.data = os.path.abspath(a.data)
    a.ktsync = os.path.abspath(a.ktsync)
    return a


def rmtree(path):
    if os.path.lexists(path):
        shutil.rmtree(path)


def wait_listen(port, seconds=10.0):
    """Wait until something listens on 127.0.0.1:PORT without connecting to it
    (a probe would be the one connection socat accepts)."""
    want = ":%04X" % port
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with open("/proc/net/tcp") as f:
            if any(ln.split()[1].endswith(want) and ln.split()[3] == "0A"
                   for ln in f.readlines()[1:]):
                return True
        time.sleep(0.01)
    return False


def tree_diffs(expected, dst):
    """Lines of `rsync -ani --delete EXPECTED/ DST/` (empty list: identical)."""
    if not os.path.isdir(dst):
        return ["destination missing"]
    out = subprocess.run(["rsync", "-ani", "--delete", expected + "/", dst + "/"],
                         capture_output=True, text=True)
    return [ln for ln in out.stdout.splitlines() if ln.strip()] or (
        ["rsync exit %d" % out.returncode] if out.returncode else [])


def count_check(dst, want_files):
    """Cheap check for the 1M-entry tree: the number of files (names only, no stat)."""
    n = sum(len(files) for _, _, files in os.walk(dst))
    return "ok (%d files)" % n if n == want_files else "%d of %d FILES" % (n, want_files)


class Bench:
    def __init__(self, args):
        self.a = args
        self.profile = "quick" if args.quick else "full"
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out = os.path.join(args.data, "results", stamp + ("-quick" if args.quick else ""))
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.state_local = os.path.join(args.data, "state", "local")
        self.state_remote = os.path.join(args.data, "state", "remote")
        self.samples = []
        self.failures = []
        self.commands = {}
        self.can_drop = (not args.warm) and can_drop_caches()

    def wipe_state(self):
        for d in (self.state_local, self.state_remote):
            rmtree(d)
            os.makedirs(d)

    def reset_dst(self, kind, base, dst):
        if kind == "absent":
            rmtree(dst)
            return
        if not os.path.isdir(dst):
            subprocess.run(["cp", "-a", base, dst], check=True)
        subprocess.run(["rsync", "-a", "--delete", base + "/", dst + "/"], check=True)

    def run_one(self, ds, sc, spec, tool, run, runs, info, dst_root):
        src_name, dst_kind, _ = spec
        top = os.path.join(self.a.data, self.profile, ds)
        src, base = os.path.join(top, src_name), os.path.join(top, "src")
        dst = os.path.join(dst_root, "dst")
        drop = self.can_drop and ds != "mem"
        self.reset_dst(dst_kind, base, dst)
        self.wipe_state()
        port = free_port() if tool == "plain-pipe" else None
        argv, recv_argv = self.cmds.build(tool, src, dst, port)
        self.commands.setdefault(tool, shlex.join(argv))
        if recv_argv:
            self.commands.setdefault(tool + " (receiver)", shlex.join(recv_argv))
        drop_caches(drop)
        log = os.path.join(self.logs, "%s-%s-%s-%d.log" % (ds, sc, tool, run))
        side = None
        if recv_argv:
            self.runner.reset()
            side = subprocess.Popen(recv_argv, stdout=subprocess.DEVNULL,
                                    stderr=open(log + ".recv", "wb"))
            if not wait_listen(port):
                raise RuntimeError("plaintext receiver did not listen on port %d" % port)
        res = self.runner.run(argv, log, side)
        res.update(dataset=ds, scenario=sc, tool=tool, run=run, dropped=drop)
        if res["rc"] != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-1500:]
            self.failures.append({"dataset": ds, "scenario": sc, "tool": tool, "run": run,
                                  "rc": res["rc"], "command": shlex.join(argv), "tail": tail})
            progress("FAILED rc=%d: %s\n%s" % (res["rc"], shlex.join(argv), tail))
        elif run == 0:
            res["check"] = (count_check(dst, info["files"]) if ds == "mem" else
                            self.check(sc, tool, base, src, dst, log, info))
        self.samples.append(res)
        progress("%s/%s run %d/%d %-20s %7.2f s%s" % (
            ds, sc, run + 1, runs, tool,
            res["wall"], "  check: " + res["check"] if "check" in res else ""))

    def check(self, sc, tool, base, src, dst, log, info):
        if sc == "dryrun":
            with open(log, errors="replace") as f:
                listed = sum(1 for ln in f if ITEM_RE.match(ln))
            diffs = tree_diffs(base, dst)
            state = "unchanged" if not diffs else "CHANGED(%d)" % len(diffs)
            return "listed %d/%d, dst %s" % (listed, info["changed_files"], state)
        diffs = tree_diffs(src, dst)
        return "ok" if not diffs else "%d DIFFS e.g. %s" % (len(diffs), diffs[0])

    def prime(self, ds):
        """Read the dataset once, untimed.  The guest's page cache is dropped before
        every run, but a virtual disk may be cached by the host, which we cannot
        drop: reading the data once first gives every tool the same host state.
        Of src1 only the changed files are read (the rest is the same as src)."""
        top = os.path.join(self.a.data, self.profile, ds)
        kind, count, _ = gen_dataset.SPECS[self.profile][ds]
        changed = [os.path.join("src1", p) for p in gen_dataset.changed_files(ds, kind, count)]
        subprocess.run("tar -C %s -cf - src -T - | cat > /dev/null" % shlex.quote(top),
                       shell=True, check=True, input="\n".join(changed).encode())

    def warm_dst_fs(self, ds, dst_root):
        """Copy the dataset once, untimed, into the destination filesystem and delete it.
        The scratch image is sparse: the first writes to a region of it also allocate
        the backing file's blocks (data and inode tables). Without this the first timed
        run of a dataset paid that alone (many/push: 26 s once, then 6.6 s), and round 1
        always starts with ktsync."""
        warm = os.path.join(dst_root, "warm-up")
        subprocess.run(["cp", "-a", os.path.join(self.a.data, self.profile, ds, "src"), warm], check=True)
        rmtree(warm)
        subprocess.run(["sync"], check=True)

    def runs_for(self, ds, sc, tool):
        """Rows with a target get --runs; rows without one --info-runs; ktsync as
        many as its most-run competitor; the memory bench --mem-runs."""
        if ds == "mem":
            return self.a.mem_runs
        names = tools.tools_for(ds, sc)
        if tool != names[0]:
            return self.a.runs if tools.target_for(ds, sc, tool) else self.a.info_runs
        return max(self.runs_for(ds, sc, t) for t in names[1:])

    def run_dataset(self, ds):
        info = gen_dataset.info(self.profile, ds)
        mem = ds == "mem"
        if not mem:  # the memory tree is run warm (see dstfs.py)
            progress("%s: priming (one untimed read of the dataset)" % ds)
            self.prime(ds)
        table = tools.MEM_SCENARIOS if mem else tools.SCENARIOS
        dst_root = self.dst.mem_root() if mem else self.dst.root
        if not mem:
            progress("%s: warming the destination filesystem (one untimed copy)" % ds)
            self.warm_dst_fs(ds, dst_root)
        for sc in tools.SCENARIO_ORDER:
            if sc not in table or sc not in self.a.scenario:
                continue
            names = tools.tools_for(ds, sc)
            counts = {t: self.runs_for(ds, sc, t) for t in names}
            for r in range(max(counts.values())):
                order = names[r % len(names):] + names[:r % len(names)]
                for tool in order:
                    if r < counts[tool]:
                        self.run_one(ds, sc, table[sc], tool, r, counts[tool], info, dst_root)
        rmtree(os.path.join(dst_root, "dst"))

    def main(self):
        a = self.a
        progress("data %s, profile %s, %d run(s) per tool (%d for rows without a target), "
                 "results %s" % (a.data, self.profile, a.runs, a.info_runs, self.out))
        infos = {}
        for ds in a.only:
            gen_dataset.ensure(a.data, self.profile, ds, log=sys.stderr)
            infos[ds] = gen_dataset.info(self.profile, ds)
        self.snapshot_ktsync()
        self.dst = DstFs(a.data, a.dst_fs).setup()
        progress("destinations: " + self.dst.description)
        self.sshd = PrivateSshd(os.path.join(a.data, "ssh")).start()
        wrap = write_wrappers(os.path.join(a.data, "bin"), a.ktsync,
                              os.path.join(a.data, "tmp", "remote.time"), self.state_remote)
        self.runner = Runner(os.path.join(a.data, "tmp"), self.sshd)
        self.cmds = tools.Commands(a.ktsync, self.sshd, wrap, self.state_local,
                                   self.runner.remote_time)
        try:
            meta = self.environment()
            large = os.path.join(a.data, self.profile, "large", "src")
            ceil = {} if a.no_ceilings else ceilings.measure_all(
                self.sshd, large if "large" in a.only else None, self.can_drop, progress)
            for ds in a.only:
                self.run_dataset(ds)
        finally:
            self.sshd.stop()
            self.dst.teardown()
        meta["commands"] = self.commands
        meta["mem_dst"] = self.dst.mem_description
        self.write(meta, infos, ceil)
        return 0

    def snapshot_ktsync(self):
        """Run a private copy: others may relink build/ktsync during the bench."""
        src = self.a.ktsync
        st = os.stat(src)
        dst = os.path.join(self.a.data, "bin", "ktsync")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst + ".new")
        os.replace(dst + ".new", dst)
        with open(dst, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        self.ktsync_origin = "%s (built %s, sha256 %s...)" % (
            src, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime)), digest)
        self.a.ktsync = dst

    def environment(self):
        ver = subprocess.run([self.a.ktsync, "--version"], capture_output=True, text=True)
        rs = subprocess.run(["rsync", "--version"], capture_output=True, text=True)
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                "profile": self.profile, "runs": self.a.runs, "info_runs": self.a.info_runs,
                "mem_runs": self.a.mem_runs,
                "ktsync": self.ktsync_origin, "ktsync_version": ver.stdout.strip(),
                "rsync_version": rs.stdout.splitlines()[0] if rs.stdout else "?",
                "kernel": os.uname().release, "cpus": os.cpu_count(),
                "ktls_available": "tls" in open("/proc/sys/net/ipv4/tcp_available_ulp").read(),
                "dropped_caches": self.can_drop, "warm": self.a.warm,
                "destinations": self.dst.description, "loadavg_start": load}

    def write(self, meta, infos, ceil):
        with open("/proc/loadavg") as f:
            meta["loadavg_end"] = " ".join(f.read().split()[:3])
        doc = {"meta": meta, "datasets": infos, "ceilings": ceil, "samples": self.samples,
               "failures": self.failures}
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(doc, f, indent=1)
        keys = ["dataset", "scenario", "tool", "run", "wall", "rc", "cli_user", "cli_sys",
                "cli_rss_kb", "srv_cpu", "rem_user", "rem_sys", "rem_rss_kb", "dropped", "check"]
        with open(os.path.join(self.out, "results.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.samples)
        md = report.render(doc)
        for path in (os.path.join(self.out, "report.md"),
                     os.path.join(HERE, "results", "latest.md")):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(md)
        print(md)
        progress("done; raw results in " + self.out)


if __name__ == "__main__":
    sys.exit(Bench(parse_args(sys.argv[1:])).main())
