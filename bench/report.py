"""report.py - turn bench samples into the markdown report.

Per dataset: a comparison table (ktsync median vs each competitor's median,
ratio = ktsync / competitor wall time, the issue's target where there is one)
and a per-tool table (spread, throughput, CPU, peak RSS, verification).
Medians are over successful runs; peak RSS is the maximum over runs.
"""
import statistics

import tools

MIB = 1 << 20


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(samples):
    groups = {}
    for s in samples:
        groups.setdefault((s["dataset"], s["scenario"], s["tool"]), []).append(s)
    out = {}
    for key, ss in groups.items():
        ok = [s for s in ss if s["rc"] == 0]
        cli = [s.get("cli_user", 0) + s.get("cli_sys", 0) for s in ok if "cli_user" in s]
        srv = [s["srv_cpu"] if "srv_cpu" in s and _remote(key[2]) else
               (s.get("rem_user", 0) + s.get("rem_sys", 0) if "rem_user" in s else None)
               for s in ok]
        out[key] = {
            "runs": len(ss), "fails": len(ss) - len(ok),
            "wall": _med([s["wall"] for s in ok]),
            "min": min((s["wall"] for s in ok), default=None),
            "max": max((s["wall"] for s in ok), default=None),
            "cli_cpu": _med(cli), "srv_cpu": _med(srv),
            "cli_rss": max((s.get("cli_rss_kb", 0) for s in ok), default=0) / 1024 or None,
            "rem_rss": max((s.get("rem_rss_kb", 0) for s in ok), default=0) / 1024 or None,
            "check": next((s["check"] for s in ss if "check" in s), "-"),
        }
    return out


def _remote(tool):
    """Tools whose far side runs through sshd (server CPU = sshd session tree)."""
    return tool not in ("ktsync-local", "rsync-local", "cp", "plain-pipe")


def _f(x, fmt="%.2f"):
    return "-" if x is None else fmt % x


def _pair(a, b, fmt="%.2f"):
    return "%s / %s" % (_f(a, fmt), _f(b, fmt)) if b is not None else _f(a, fmt)


def _wall(st):
    if st is None:
        return "-"
    if st["wall"] is None:
        return "FAILED"
    return _f(st["wall"]) + (" (%d failed)" % st["fails"] if st["fails"] else "")


def comparison_rows(ds, summ, scenarios):
    rows, verdicts = [], []
    for sc in tools.SCENARIO_ORDER:
        if sc not in scenarios:
            continue
        names = tools.tools_for(ds, sc)
        k = summ.get((ds, sc, names[0]))
        if k is None:
            continue
        for comp in names[1:]:
            c = summ.get((ds, sc, comp))
            if c is None:
                continue
            ratio = k["wall"] / c["wall"] if k["wall"] and c["wall"] else None
            tgt = tools.target_for(ds, sc, comp)
            met = "-"
            if tgt:
                met = "?" if ratio is None else ("yes" if ratio <= tgt[0] else "NO")
                verdicts.append((ds, sc, comp, tgt, ratio, met))
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc, _wall(k), tools.LABELS[comp], _wall(c), _f(ratio),
                "%s (<=%.2f)" % (tgt[1], tgt[0]) if tgt else "-", met,
                _pair(k["cli_cpu"], k["srv_cpu"]), _pair(c["cli_cpu"], c["srv_cpu"]),
                _pair(k["cli_rss"], k["rem_rss"], "%.0f"),
                _pair(c["cli_rss"], c["rem_rss"], "%.0f")))
    return rows, verdicts


def tool_rows(ds, summ, scenarios, info):
    rows = []
    for sc in tools.SCENARIO_ORDER:
        if sc not in scenarios:
            continue
        for t in tools.tools_for(ds, sc):
            st = summ.get((ds, sc, t))
            if st is None:
                continue
            moved = {"push": info["bytes"], "pull": info["bytes"], "local": info["bytes"],
                     "change": info["changed_bytes"]}.get(sc)
            thru = moved / MIB / st["wall"] if moved and st["wall"] else None
            rows.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                sc, tools.LABELS[t], st["runs"], _wall(st),
                "%s-%s" % (_f(st["min"]), _f(st["max"])), _f(thru, "%.0f"),
                _f(st["cli_cpu"]), _f(st["srv_cpu"]), _f(st["cli_rss"], "%.0f"),
                _f(st["rem_rss"], "%.0f"), st["check"]))
    return rows


COMP_HEAD = ("| scenario | ktsync s | competitor | comp. s | ratio | target | met? | "
             "ktsync CPU s cli / srv | comp. CPU s cli / srv | ktsync RSS MB cli / rem | "
             "comp. RSS MB cli / rem |\n|" + "---|" * 11)
TOOL_HEAD = ("| scenario | tool | runs | median s | min-max s | MiB/s | CPU cli s | CPU srv s | "
             "RSS cli MB | RSS rem MB | check |\n|" + "---|" * 11)


def render_ceilings(c, infos, summ):
    lines = ["## Ceilings (same run)", ""]
    if c:
        lines += [
            "- ssh login to 127.0.0.1 (`ssh host true`, median of 5): %s s; default cipher "
            "negotiated: %s" % (_f(c.get("ssh_login_s")), c.get("ssh_default_cipher")),
            "- `openssl speed -evp aes-128-gcm -bytes 16384`, one core: %s MiB/s; "
            "chacha20-poly1305: %s MiB/s" % (_f(c.get("aes128gcm_mib_s"), "%.0f"),
                                             _f(c.get("chacha20_mib_s"), "%.0f")),
            "- XXH3-128: `xxhsum -b11` (100 KB in-cache sample): %s MB/s; `xxhsum -H2` over a "
            "page-cache-warm large file: %s MiB/s" % (_f(c.get("xxh128_bench_mb_s"), "%.0f"),
                                                      _f(c.get("xxh128_file_mib_s"), "%.0f")),
            "- cold read of the large dataset (`cat` after dropping caches): %s MiB/s"
            % _f(c.get("cold_read_mib_s"), "%.0f")]
    for ds, info in infos.items():
        st = summ.get((ds, "push", "plain-pipe"))
        if st and st["wall"]:
            lines.append("- plaintext `tar -b 512 | socat -b 262144` -> `socat | tar -b 512` "
                         "over loopback, `%s`: %.2f s = %.0f MiB/s"
                         % (ds, st["wall"], info["bytes"] / MIB / st["wall"]))
    return lines + [""]


def render_memory(summ, infos, meta):
    info = infos.get("mem")
    if not info:
        return []
    lines = ["## Memory: %s-entry tree of empty files" % format(info["files"], ","), "",
             "Destinations on %s: wall times here are not comparable with the tables "
             "above; peak RSS is the point." % meta.get("mem_dst", "?"), "",
             "| scenario | tool | wall s | RSS client MB | RSS remote MB | target | met? |",
             "|---|---|---|---|---|---|---|"]
    for sc in ("local", "push"):
        for t in tools.MEM_SCENARIOS[sc][2]:
            st = summ.get(("mem", sc, t))
            if not st:
                continue
            met = "-"
            if t.startswith("ktsync"):
                peak = max(st["cli_rss"] or 0, st["rem_rss"] or 0)
                met = "?" if st["wall"] is None else (
                    "yes" if peak <= tools.MEM_TARGET_MB else "NO")
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                sc, tools.LABELS[t], _wall(st), _f(st["cli_rss"], "%.0f"),
                _f(st["rem_rss"], "%.0f"),
                "each side <= %d MB" % tools.MEM_TARGET_MB if t.startswith("ktsync") else "-",
                met))
    return lines + [""]


def render(doc):
    meta, infos, summ = doc["meta"], doc["datasets"], summarize(doc["samples"])
    out = ["# ktsync benchmark (%s, %s profile)" % (meta["date"], meta["profile"]), "",
           "- ktsync: %s (%s); %s" % (meta["ktsync"], meta["ktsync_version"],
                                      meta["rsync_version"]),
           "- kernel %s, %d CPUs, kTLS ULP available: %s; load average at start %s, at end %s"
           % (meta["kernel"], meta["cpus"], meta["ktls_available"], meta["loadavg_start"],
              meta.get("loadavg_end", "?")),
           "- page cache dropped before every timed run: %s" % (
               "yes (sync; echo 3 > /proc/sys/vm/drop_caches)" if meta["dropped_caches"]
               else "NO (%s)" % ("--warm" if meta["warm"] else "not permitted here")),
           "- %d timed run(s) per row with a target, %d per row without one (ktsync runs as "
           "often as its most-run competitor), alternating; destinations: %s"
           % (meta["runs"], meta.get("info_runs", meta["runs"]), meta["destinations"]), ""]
    verdicts = []
    body = []
    for ds, info in infos.items():
        if ds == "mem":
            continue
        body += ["## `%s`: %s files, %.0f MiB; 1%% change = %d file(s), %.1f MiB" % (
            ds, format(info["files"], ","), info["bytes"] / MIB, info["changed_files"],
            info["changed_bytes"] / MIB), ""]
        rows, v = comparison_rows(ds, summ, tools.SCENARIOS)
        verdicts += v
        body += [COMP_HEAD] + rows + ["", TOOL_HEAD] + tool_rows(ds, summ, tools.SCENARIOS,
                                                                 info) + [""]
    met = sum(1 for v in verdicts if v[5] == "yes")
    out += ["## Targets: %d of %d met" % (met, len(verdicts)), "",
            "| dataset | scenario | vs | ratio | target | met? |", "|---|---|---|---|---|---|"]
    out += ["| %s | %s | %s | %s | <= %.2f (%s) | %s |" % (
        ds, sc, tools.LABELS[comp], _f(r), t[0], t[1], m) for ds, sc, comp, t, r, m in verdicts]
    out += [""] + render_ceilings(doc["ceilings"], infos, summ) + body
    out += render_memory(summ, infos, meta)
    if doc["failures"]:
        out += ["## Failures", ""]
        for f in doc["failures"]:
            out += ["- %s/%s %s run %d: exit %d" % (f["dataset"], f["scenario"], f["tool"],
                                                    f["run"] + 1, f["rc"]),
                    "  `%s`" % f["command"], "", "```", f["tail"].strip()[-800:], "```"]
    out += ["", "## Commands (first use, paths as run)", ""]
    out += ["- %s: `%s`" % (t, c) for t, c in meta.get("commands", {}).items()]
    return "\n".join(out) + "\n"
