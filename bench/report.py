"""report.py - turn bench samples into the markdown report.

Per dataset: a comparison table (ktsync median vs each competitor's median,
ratio = ktsync / competitor wall time, the issue's target where there is one; a
ktsync variant such as the data inside ssh also against its own competitors)
and a per-tool table (spread, throughput, CPU, peak RSS, verification); over the
slow link also the bytes that crossed it per tool.
Medians are over successful runs; peak RSS is the maximum over runs.
The memory trees get their own section (RSS per side at both sizes, flatness,
time to first byte); every verdict goes into the Targets table at the top.
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
        for f in ("first_item_t", "first_send_t", "scanned_src_t", "plan_t",
                  "scanned_src_entries", "items", "link_up", "link_down"):
            out[key][f] = _med([s.get(f) for s in ok])
    return out


def _remote(tool):
    """Tools whose far side runs through sshd (server CPU = sshd session tree)."""
    return tool not in ("rsync-local", "cp", "plain-pipe") and not tool.endswith("-local")


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


def verdict(ds, sc, what, measured, ratio, max_ratio, words, strict=False):
    """One row of the Targets table.  STRICT: the ratio must be below MAX_RATIO."""
    if ratio is None:
        met = "?"
    else:
        met = "yes" if (ratio < max_ratio if strict else ratio <= max_ratio) else "NO"
    return {"ds": ds, "sc": sc, "what": what, "measured": measured, "ratio": ratio,
            "target": "%s %.2f (%s)" % ("<" if strict else "<=", max_ratio, words), "met": met}


def comparison_rows(ds, summ, scenarios):
    rows, verdicts = [], []
    for sc in tools.SCENARIO_ORDER:
        if sc not in scenarios:
            continue
        names = tools.tools_for(ds, sc)
        for tool, comp in tools.pairs(names):
            k, c = summ.get((ds, sc, tool)), summ.get((ds, sc, comp))
            if k is None or c is None:
                continue
            # A variant's rows name it (in the scenario column and the verdict).
            variant = None if tool == names[0] else tool
            ratio = k["wall"] / c["wall"] if k["wall"] and c["wall"] else None
            tgt = tools.target_for(ds, sc, comp, variant)
            met = "-"
            if tgt:
                what = (tools.LABELS[variant] + " " if variant else "") + "vs " + tools.LABELS[comp]
                v = verdict(ds, sc, what, "%s s vs %s s" % (_f(k["wall"]), _f(c["wall"])),
                            ratio, *tgt)
                met = v["met"]
                verdicts.append(v)
            rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                "%s: %s" % (sc, tools.LABELS[variant]) if variant else sc, _wall(k),
                tools.LABELS[comp], _wall(c), _f(ratio),
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
                     "change": info["changed_bytes"], tools.LINK_SCENARIO: info["bytes"]}.get(sc)
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


def render_link(ds, info, summ, link):
    """The bytes that crossed the slow link per tool (the tbf counters of both ends),
    against the tree and what zstd -3 makes of it."""
    if not link:
        return []
    rate = link["rate_bytes_s"]
    lines = ["Over %s.  At that rate the tree's %.1f MiB need %.1f s uncompressed%s" % (
        link["description"], info["bytes"] / MIB, info["bytes"] / rate,
        "; zstd -3 over a tar of it, one stream: %.1f MiB (%.2fx)." % (
            link["tar_zstd3_bytes"] / MIB, info["bytes"] / link["tar_zstd3_bytes"])
        if link.get("tar_zstd3_bytes") else "."), "",
        "Bytes on the link (median over runs, ssh login and protocol included); "
        "`tree / up` = the tree's bytes per byte the client sent.", "",
        "| tool | median s | tree MiB/s | MiB client->server | MiB server->client | "
        "tree / up |", "|" + "---|" * 6]
    for t in tools.tools_for(ds, tools.LINK_SCENARIO):
        st = summ.get((ds, tools.LINK_SCENARIO, t))
        if not st:
            continue
        up, down = st["link_up"], st["link_down"]
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            tools.LABELS[t], _wall(st), _f(info["bytes"] / MIB / st["wall"] if st["wall"]
                                           else None, "%.1f"),
            _f(up / MIB if up is not None else None, "%.1f"),
            _f(down / MIB if down is not None else None, "%.2f"),
            _f(info["bytes"] / up if up else None)))
    return lines + [""]


MEM_SIDES = {"push": (("client", "cli_rss"), ("remote", "rem_rss")),
             "pull": (("client", "cli_rss"), ("remote", "rem_rss")),
             "local": (("process", "cli_rss"),)}


def _n(info):
    return format(info["files"], ",") if info else "?"


def render_memory(summ, infos, meta):
    """-> (lines, verdicts) of the memory trees: tables, RSS, flatness, first byte."""
    big, small = infos.get("mem"), infos.get("mem-100k")
    if not big and not small:
        return [], []
    lines = ["## Memory: trees of empty files (%s)" % ", ".join(
        "`%s` %s files, %s entries" % (ds, _n(infos[ds]), format(infos[ds]["entries"], ","))
        for ds in tools.MEM_DATASETS if ds in infos), "",
        "Destinations on %s: wall times here are not comparable with the tables "
        "above.  ktsync and ktsync-base push these trees with `--json` (the time to first "
        "byte); rsync prints nothing." % meta.get("mem_dst", "?"), ""]
    verdicts = []
    for ds in tools.MEM_DATASETS:
        info = infos.get(ds)
        if not info:
            continue
        table = tools.scenarios_for(ds)
        rows, v = comparison_rows(ds, summ, table)
        verdicts += v
        lines += ["### `%s`: %s empty files" % (ds, _n(info)), "", COMP_HEAD] + rows + [
            "", TOOL_HEAD] + tool_rows(ds, summ, table, info) + [""]

    # Peak RSS per side at both sizes: the limit (big tree) and flatness (big vs small).
    lim, flat = tools.MEM_LIMIT_MB, tools.MEM_FLAT_MB
    lines += ["### Peak RSS per side", "",
              "Limit: each ktsync side <= %d MB at `mem`; flat: RSS at `mem` <= RSS at "
              "`mem-100k` + %d MB.  rsync and ktsync-base for reference." % (lim, flat), "",
              "| scenario | side | tool | RSS MB `mem-100k` | RSS MB `mem` | growth MB | "
              "<= %d MB? | flat? |" % lim, "|" + "---|" * 8]
    for sc in ("push", "pull", "local"):
        for t in tools.MEM_SCENARIOS[sc][2]:
            for side, field in MEM_SIDES[sc]:
                sb, ss = summ.get(("mem", sc, t)), summ.get(("mem-100k", sc, t))
                if not sb and not ss:
                    continue
                rb = sb[field] if sb and sb["wall"] is not None else None
                rs = ss[field] if ss and ss["wall"] is not None else None
                ok_lim = ok_flat = "-"
                if t.startswith("ktsync") and not t.startswith(tools.BASE):
                    what = "peak RSS %s, %s" % (side, tools.LABELS[t])
                    if sb:
                        v = verdict("mem", sc, what, "%s MB" % _f(rb, "%.0f"),
                                    rb / lim if rb else None, 1.0, "<= %d MB" % lim)
                        verdicts.append(v)
                        ok_lim = v["met"]
                    if sb and ss:
                        v = verdict("mem", sc, "flat: " + what,
                                    "%s MB at %s vs %s MB at %s" % (
                                        _f(rb, "%.0f"), _n(big), _f(rs, "%.0f"), _n(small)),
                                    rb / (rs + flat) if rb and rs else None, 1.0,
                                    "RSS <= %s-file RSS + %d MB" % (_n(small), flat))
                        verdicts.append(v)
                        ok_flat = v["met"]
                lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    sc, side, tools.LABELS[t], _f(rs, "%.0f"), _f(rb, "%.0f"),
                    _f(rb - rs if rb and rs else None, "%+.0f"), ok_lim, ok_flat))
    lines.append("")

    # Time to first byte: the first file committed at DST before SRC's scan ended.
    rows = []
    for ds in tools.MEM_DATASETS:
        for t in tools.JSON_TOOLS:
            st = summ.get((ds, "push", t))
            if not st:
                continue
            first, scanned = st["first_send_t"], st["scanned_src_t"]
            before = "?" if first is None or scanned is None else (
                "yes" if first < scanned else "NO")
            rows.append("| `%s` | %s | %s | %s | %s | %s | %s | %s |" % (
                ds, tools.LABELS[t], _f(st["first_item_t"], "%.3f"), _f(first, "%.3f"),
                _f(scanned, "%.3f"), _f(st["plan_t"], "%.3f"), _wall(st), before))
            if ds == "mem" and t == "ktsync":
                verdicts.append(verdict(
                    ds, "push", "time to first byte: first `send` item vs `scanned` src",
                    "first file done %s s, SRC scanned %s s" % (
                        _f(first, "%.2f"), _f(scanned, "%.2f")),
                    first / scanned if first is not None and scanned else None, 1.0,
                    "first file committed at DST before the SRC scan ended", strict=True))
    if rows:
        lines += ["### Time to first byte (push, `--json`)", "",
                  "Seconds since ktsync started (the events' `t`, median over runs): first "
                  "`item` event, first `item` with `op` `send` (printed when the file is "
                  "committed at DST), the `scanned` event of side `src` (the client's scan "
                  "ended), the `plan` event.  ktsync-base prints no times (`-`).", "",
                  "| tree | tool | first item s | first send s | src scanned s | plan s | "
                  "wall s | first send before scan ended? |", "|" + "---|" * 8] + rows + [""]
    return lines, verdicts


def render(doc):
    meta, infos, summ = doc["meta"], doc["datasets"], summarize(doc["samples"])
    out = ["# ktsync benchmark (%s, %s profile)" % (meta["date"], meta["profile"]), "",
           "- ktsync: %s (%s); %s" % (meta["ktsync"], meta["ktsync_version"],
                                      meta["rsync_version"]),
           "- baseline (`ktsync-base`, the previous design, against its own copy on the "
           "remote side): %s" % ("%s (%s)" % (meta["baseline"], meta.get("baseline_version"))
                                 if meta.get("baseline") else "none"),
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
        if tools.is_mem(ds):
            continue
        table = tools.scenarios_for(ds)
        if ds == tools.LINK_DATASET:
            body += ["## `%s`: %s files, %.1f MiB, %.1f MiB of it incompressible; `%s` only: "
                     "push over a 100 Mbit/s link" % (
                         ds, format(info["files"], ","), info["bytes"] / MIB,
                         info["incompressible_bytes"] / MIB, tools.LINK_SCENARIO), ""]
        else:
            body += ["## `%s`: %s files, %.0f MiB; 1%% change = %d file(s), %.1f MiB" % (
                ds, format(info["files"], ","), info["bytes"] / MIB, info["changed_files"],
                info["changed_bytes"] / MIB), ""]
        rows, v = comparison_rows(ds, summ, table)
        verdicts += v
        body += [COMP_HEAD] + rows + ["", TOOL_HEAD] + tool_rows(ds, summ, table, info) + [""]
        if ds == tools.LINK_DATASET:
            body += render_link(ds, info, summ, meta.get("link"))
    mem_lines, v = render_memory(summ, infos, meta)
    verdicts += v
    met = sum(1 for v in verdicts if v["met"] == "yes")
    out += ["## Targets: %d of %d met" % (met, len(verdicts)), "",
            "ratio: ktsync (or the ktsync variant named) / competitor wall time; for memory, "
            "RSS / limit and RSS at the big tree / (RSS at the small one + %d MB); for the "
            "first byte, first file done / SRC scanned." % tools.MEM_FLAT_MB, "",
            "| dataset | scenario | vs / measure | measured | ratio | target | met? |",
            "|---|---|---|---|---|---|---|"]
    out += ["| %s | %s | %s | %s | %s | %s | %s |" % (
        v["ds"], v["sc"], v["what"], v["measured"], _f(v["ratio"]), v["target"], v["met"])
        for v in verdicts]
    out += [""] + render_ceilings(doc["ceilings"], infos, summ) + body
    out += mem_lines
    if doc["failures"]:
        out += ["## Failures", ""]
        for f in doc["failures"]:
            out += ["- %s/%s %s run %d: exit %d" % (f["dataset"], f["scenario"], f["tool"],
                                                    f["run"] + 1, f["rc"]),
                    "  `%s`" % f["command"], "", "```", f["tail"].strip()[-800:], "```"]
    out += ["", "## Commands (first use, paths as run)", ""]
    out += ["- %s: `%s`" % (t, c) for t, c in meta.get("commands", {}).items()]
    return "\n".join(out) + "\n"
