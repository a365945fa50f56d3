#!/usr/bin/env python3
"""bench.py - ktsync vs rsync / cp / tar benchmark (run it through bench/run.sh).

For every dataset and scenario (see tools.py) each tool runs --runs times
(--info-runs for rows the issue sets no target for, to fit the full run in
about half an hour), alternating (round r starts with the r-th tool), each run
from a freshly reset destination, with ktsync's state databases wiped and (when
allowed) the page cache dropped.  The first run of every tool is verified
against the expected tree with `rsync -ani --delete`.  With a baseline binary
(--baseline, default /var/tmp/ktsync-base) the previous ktsync runs every ktsync
scenario too, as "ktsync-base", against its own copy on the remote side.
The compressible "text" tree runs one scenario, "slowlink": over a 100 Mbit/s link
between two network namespaces (netlink.py) with its own sshd, counting the bytes
that cross the link.
Results: DATA/results/<time>/{results.json,results.csv,report.md,logs/} and
bench/results/latest.md.
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
import signal
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
from netlink import RATE_BYTES_S, SERVER_ADDR, ShapedLink  # noqa: E402
from sshd import PrivateSshd, free_port  # noqa: E402

DATASETS = ["large", "small", "many", tools.LINK_DATASET]
DEFAULT_BASELINE = "/var/tmp/ktsync-base"
T0 = time.monotonic()
ITEM_RE = re.compile(r"^(\*deleting  |[<>ch.*][fdLDS][.+a-zA-Z?]{9}) ")
JSON_T_RE = re.compile(r'"t":([-+0-9.eE]+)')
JSON_KEEP_ITEMS = 20  # item lines of a --json log kept (a 1M-entry push prints 1M)


def progress(msg):
    print("[bench %s +%4.0fs] %s" % (time.strftime("%H:%M:%S"), time.monotonic() - T0, msg),
          file=sys.stderr, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small datasets (large 4x64 MiB, many 20k, text 14 MiB, mem 100k and "
                   "10k), 1 run each")
    p.add_argument("--runs", type=int, help="timed runs per tool (default 3, --quick 1)")
    p.add_argument("--info-runs", type=int,
                   help="runs of rows without a target (default: min(--runs, 2))")
    p.add_argument("--mem-runs", type=int, default=1,
                   help="runs per tool on the memory trees (1M and 100k entries)")
    p.add_argument("--only", action="append", default=[],
                   help="dataset(s) to run: large, small, many, text, mem (repeatable, comma "
                   "list; mem runs mem-100k and mem; text runs only the slowlink scenario)")
    p.add_argument("--scenario", action="append", default=[],
                   help="scenario(s): " + ", ".join(tools.SCENARIO_ORDER))
    p.add_argument("--data", default="/var/tmp/ktsync-bench", help="data dir")
    p.add_argument("--ktsync", default=os.path.join(os.path.dirname(HERE), "build", "ktsync"))
    p.add_argument("--baseline", metavar="PATH",
                   help="previous ktsync binary, run side by side as ktsync-base (default %s "
                   "if executable)" % DEFAULT_BASELINE)
    p.add_argument("--no-baseline", action="store_true", help="do not run the baseline")
    p.add_argument("--dst-fs", choices=["auto", "loop", "plain"], default="auto",
                   help="where destinations live (see dstfs.py)")
    p.add_argument("--warm", action="store_true", help="never drop the page cache")
    p.add_argument("--no-ceilings", action="store_true")
    a = p.parse_args(argv)
    a.runs = a.runs or (1 if a.quick else 3)
    a.info_runs = a.info_runs or min(a.runs, 2)
    only = [x for v in a.only for x in v.split(",") if x] or DATASETS + ["mem"]
    a.scenario = [x for v in a.scenario for x in v.split(",") if x] or tools.SCENARIO_ORDER
    for x in only:
        if x not in DATASETS + tools.MEM_DATASETS:
            p.error("unknown dataset " + x)
    # "mem" means both memory trees (the 100k one for the flatness check), small first.
    a.only = []
    for x in only:
        for y in (tools.MEM_DATASETS if x == "mem" else [x]):
            if y not in a.only:
                a.only.append(y)
    for x in a.scenario:
        if x not in tools.SCENARIO_ORDER:
            p.error("unknown scenario " + x)
    a.data = os.path.abspath(a.data)
    a.ktsync = os.path.abspath(a.ktsync)
    if a.no_baseline:
        if a.baseline:
            p.error("--baseline and --no-baseline")
    elif a.baseline:
        a.baseline = os.path.abspath(a.baseline)
        if not os.access(a.baseline, os.X_OK):
            p.error("--baseline %s: not an executable file" % a.baseline)
    elif os.path.isfile(DEFAULT_BASELINE) and os.access(DEFAULT_BASELINE, os.X_OK):
        a.baseline = DEFAULT_BASELINE
    return a


def rmtree(path):
    if os.path.lexists(path):  # rm: faster than shutil.rmtree on the 1M-entry trees
        subprocess.run(["rm", "-rf", "--", path], check=True)


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


def json_times(log):
    """Read a `ktsync mirror --json` log: the time of the first item (and of the first
    `send` item: a file committed at DST), of the `scanned` events and of `plan`; then
    rewrite LOG without all but the first JSON_KEEP_ITEMS item lines (a 1M-entry push
    prints a million).  Times are the events' "t" (seconds since ktsync started); the
    earliest t of each kind is taken (items are printed as changes finish)."""
    out = {"items": 0, "first_item_t": None, "first_send_t": None}
    kept = []
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith('{"event":"item"'):
                out["items"] += 1
                if out["items"] <= JSON_KEEP_ITEMS:
                    kept.append(line)
                m = JSON_T_RE.match(line, line.rfind('"t":'))  # "t" is the last field
                if not m:
                    continue
                t = float(m.group(1))
                if out["first_item_t"] is None or t < out["first_item_t"]:
                    out["first_item_t"] = t
                if '"op":"send"' in line and (out["first_send_t"] is None
                                              or t < out["first_send_t"]):
                    out["first_send_t"] = t
                continue
            kept.append(line)
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "scanned" and "t" in ev:
                out["scanned_%s_t" % ev.get("side")] = ev["t"]
                out["scanned_%s_entries" % ev.get("side")] = ev.get("entries")
            elif ev.get("event") == "plan" and "t" in ev:
                out["plan_t"] = ev["t"]
            elif ev.get("event") == "summary":
                out["summary_seconds"] = ev.get("seconds")
    if out["items"] > JSON_KEEP_ITEMS:
        kept.append("# bench: %d more item lines of the --json stream dropped\n"
                    % (out["items"] - JSON_KEEP_ITEMS))
    with open(log + ".tmp", "w") as f:
        f.writelines(kept)
    os.replace(log + ".tmp", log)
    return out


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
        self.link = self.link_sshd = None

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
        mem = tools.is_mem(ds)
        drop = self.can_drop and not mem
        link = sc == tools.LINK_SCENARIO  # client in its namespace, its own sshd
        cmds, runner = (self.link_cmds, self.link_runner) if link else (self.cmds, self.runner)
        self.reset_dst(dst_kind, base, dst)
        self.wipe_state()
        port = free_port() if tool == "plain-pipe" else None
        # Pushes of the memory trees print the --json stream: the time to first byte.
        json_out = mem and sc == "push" and tool in tools.JSON_TOOLS
        argv, recv_argv = cmds.build(tool, src, dst, port, json=json_out)
        self.commands.setdefault(tool + (" (memory trees)" if json_out else ""),
                                 shlex.join(argv))
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
        sent0 = self.link.sent() if link else None
        res = runner.run(argv, log, side)
        res.update(dataset=ds, scenario=sc, tool=tool, run=run, dropped=drop)
        if link:  # the run's bytes on the wire each way (the runner waited for sshd's session)
            sent1 = self.link.sent()
            res.update(link_up=sent1[0] - sent0[0], link_down=sent1[1] - sent0[1])
        if json_out:
            res.update(json_times(log))
        if res["rc"] != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-1500:]
            self.failures.append({"dataset": ds, "scenario": sc, "tool": tool, "run": run,
                                  "rc": res["rc"], "command": shlex.join(argv), "tail": tail})
            progress("FAILED rc=%d: %s\n%s" % (res["rc"], shlex.join(argv), tail))
        elif run == 0:
            res["check"] = self.check(sc, tool, base, src, dst, log, info)
        self.samples.append(res)
        extra = ""
        if res.get("first_send_t") is not None or res.get("scanned_src_t") is not None:
            extra = "  first send %s s, src scanned %s s" % tuple(
                "-" if res.get(k) is None else "%.2f" % res[k]
                for k in ("first_send_t", "scanned_src_t"))
        if link:
            extra = "  link %.1f MiB up, %.1f MiB down" % (res["link_up"] / (1 << 20),
                                                        res["link_down"] / (1 << 20))
        progress("%s/%s run %d/%d %-20s %7.2f s%s%s" % (
            ds, sc, run + 1, runs, tool, res["wall"],
            "  check: " + res["check"] if "check" in res else "", extra))

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
        changed = []
        if gen_dataset.has_change(kind):
            changed = [os.path.join("src1", p)
                       for p in gen_dataset.changed_files(ds, kind, count)]
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
        """Rows with a target get --runs; rows without one --info-runs (a tool in
        several rows, e.g. a ktsync variant and its competitor, as many as its most-run
        row); ktsync as many as its most-run competitor; the memory bench --mem-runs."""
        if tools.is_mem(ds):
            return self.a.mem_runs
        names = self.tools_for(ds, sc)
        if tool != names[0]:
            rows = [(t, c) for t, c in tools.pairs(names) if tool in (t, c)]
            targeted = any(tools.target_for(ds, sc, c, t) for t, c in rows)
            return self.a.runs if targeted else self.a.info_runs
        return max(self.runs_for(ds, sc, t) for t in names[1:])

    def tools_for(self, ds, sc):
        return tools.tools_for(ds, sc, baseline=bool(self.a.baseline))

    def run_dataset(self, ds):
        info = gen_dataset.info(self.profile, ds)
        mem = tools.is_mem(ds)
        if not mem:  # the memory trees are run warm (see dstfs.py)
            progress("%s: priming (one untimed read of the dataset)" % ds)
            self.prime(ds)
        table = tools.scenarios_for(ds)
        dst_root = self.dst.mem_root() if mem else self.dst.root
        if not mem:
            progress("%s: warming the destination filesystem (one untimed copy)" % ds)
            self.warm_dst_fs(ds, dst_root)
        for sc in tools.SCENARIO_ORDER:
            if sc not in table or sc not in self.a.scenario:
                continue
            names = self.tools_for(ds, sc)
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
        a.ktsync, self.ktsync_origin = self.snapshot(a.ktsync, "ktsync")
        self.baseline_origin = None
        if a.baseline:
            a.baseline, self.baseline_origin = self.snapshot(a.baseline, "ktsync-base")
            progress("baseline: " + self.baseline_origin)
        else:
            progress("baseline: none (%s)" % ("--no-baseline" if a.no_baseline else
                                              DEFAULT_BASELINE + " not found"))
        # SIGTERM unwinds like ^C, so the finally below still stops the sshds, removes
        # the namespaces and unmounts.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
        self.dst = DstFs(a.data, a.dst_fs).setup()
        progress("destinations: " + self.dst.description)
        self.sshd = PrivateSshd(os.path.join(a.data, "ssh")).start()
        wrap = write_wrappers(os.path.join(a.data, "bin"), a.ktsync,
                              os.path.join(a.data, "tmp", "remote.time"), self.state_remote,
                              a.baseline)
        self.runner = Runner(os.path.join(a.data, "tmp"), self.sshd)
        self.cmds = tools.Commands(a.ktsync, self.sshd, wrap, self.state_local,
                                   self.runner.remote_time, a.baseline)
        try:
            if tools.LINK_DATASET in a.only and tools.LINK_SCENARIO in a.scenario:
                link_meta = self.start_link(wrap)
            meta = self.environment()
            if self.link:
                meta["link"] = link_meta
            large = os.path.join(a.data, self.profile, "large", "src")
            ceil = {} if a.no_ceilings else ceilings.measure_all(
                self.sshd, large if "large" in a.only else None, self.can_drop, progress)
            for ds in a.only:
                self.run_dataset(ds)
        finally:
            # The link's sshd and namespaces first: its mount namespace holds the
            # destination filesystem too.
            if self.link_sshd:
                self.link_sshd.stop()
            if self.link:
                self.link.teardown()
            self.sshd.stop()
            self.dst.teardown()
        meta["commands"] = self.commands
        meta["mem_dst"] = self.dst.mem_description
        self.write(meta, infos, ceil)
        return 0

    def start_link(self, wrap):
        """The slow link, its sshd (server namespace) and the commands that run in the
        client namespace; -> facts for the report: the link, and how far zstd -3
        shrinks the tree (a tar of it, one stream: a reference for the link bytes)."""
        a = self.a
        self.link = ShapedLink()  # assigned first: a failing setup is torn down too
        self.link.setup()
        self.link_sshd = PrivateSshd(os.path.join(a.data, "ssh-link"), netns=self.link.server_ns,
                                     address=SERVER_ADDR, client_prefix=self.link.client_exec())
        self.link_sshd.start()
        self.link_runner = Runner(os.path.join(a.data, "tmp"), self.link_sshd)
        self.link_cmds = tools.Commands(a.ktsync, self.link_sshd, wrap, self.state_local,
                                        self.link_runner.remote_time,
                                        prefix=self.link.client_exec())
        progress("slow link: " + self.link.description)
        src = os.path.join(a.data, self.profile, tools.LINK_DATASET, "src")
        out = {"description": self.link.description, "rate_bytes_s": RATE_BYTES_S}
        if shutil.which("zstd"):  # optional: only this reference line needs it
            pipe = "tar -C %s -cf - . | zstd -3 -T1 -c | wc -c" % shlex.quote(src)
            out["tar_zstd3_bytes"] = int(subprocess.run(
                ["bash", "-o", "pipefail", "-c", pipe], capture_output=True, text=True,
                check=True).stdout)
        return out

    def snapshot(self, src, name):
        """Run a private copy DATA/bin/NAME: others may relink build/ktsync during the
        bench.  A binary being relinked is missing, not yet executable or still
        growing: wait until it is executable and unchanged for 3 s, and copy again if
        it changed during the copy.  -> (path of the copy, description of the original)."""
        dst = os.path.join(self.a.data, "bin", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)

        def sig():
            try:
                st = os.stat(src)
            except FileNotFoundError:
                return None
            return (st.st_size, st.st_mtime_ns) if os.access(src, os.X_OK) else None

        for attempt in range(120):
            before = sig()
            time.sleep(3)
            if before is None or sig() != before:
                if attempt % 5 == 0:
                    progress("%s missing or being relinked; waiting" % src)
                continue
            shutil.copy2(src, dst + ".new")
            if sig() != before or os.path.getsize(dst + ".new") != before[0]:
                continue
            if subprocess.run([dst + ".new", "--version"], capture_output=True).returncode:
                continue
            break
        else:
            raise RuntimeError("%s: no stable executable to copy after 6 minutes" % src)
        os.replace(dst + ".new", dst)
        with open(dst, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        return dst, "%s (built %s, sha256 %s...)" % (
            src, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(before[1] / 1e9)), digest)

    def environment(self):
        ver = subprocess.run([self.a.ktsync, "--version"], capture_output=True, text=True)
        base_ver = subprocess.run([self.a.baseline, "--version"], capture_output=True,
                                  text=True).stdout.strip() if self.a.baseline else None
        rs = subprocess.run(["rsync", "--version"], capture_output=True, text=True)
        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        return {"date": datetime.datetime.now().isoformat(timespec="seconds"),
                "profile": self.profile, "runs": self.a.runs, "info_runs": self.a.info_runs,
                "mem_runs": self.a.mem_runs,
                "ktsync": self.ktsync_origin, "ktsync_version": ver.stdout.strip(),
                "baseline": self.baseline_origin, "baseline_version": base_ver,
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
                "cli_rss_kb", "srv_cpu", "rem_user", "rem_sys", "rem_rss_kb", "dropped", "check",
                "first_item_t", "first_send_t", "scanned_src_t", "plan_t", "link_up",
                "link_down"]
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
