#!/usr/bin/env python3
"""filter_oracle.py KTSYNC WORKDIR [--only SUBSTRING] [--ssh SSH_CMD HOST]: rsync is the
oracle for filter rules.

Each case is a list of rsync filter options. The same SRC and the same starting DST (a copy
of SRC with some entries missing and extraneous ones added: excluded names, DST-only
directories holding excluded files, rule files) are mirrored by
`rsync -a --delete OPTIONS SRC/ D1/` and by `ktsync mirror OPTIONS SRC D2`, and the two
resulting trees must hold the same paths with the same types. Cases: a table of patterns
(anchoring, "*", "**", "***", classes, escapes, trailing '/') crossed with rule forms
(--exclude, --include then "- *", -f with each rule letter and modifier, --delete-excluded),
the examples of rsync's man page, merge files, --include-from/--exclude-from, dir-merge
files with their modifiers, and -F/-FF with a .rsync-filter above SRC. With --ssh, the
non-table cases run again pushed and pulled over ssh (the rules cross the wire; each end
reads its own per-directory files).

ktsync refuses to empty DST when SRC lists nothing (README, "Stricter than rsync"): a case
where rsync deletes everything and ktsync refuses with exit 42 leaving DST untouched counts
as agreeing; the number of such cases is printed.
"""
import concurrent.futures
import os
import queue
import shutil
import subprocess
import sys

KTSYNC, WORK = sys.argv[1], sys.argv[2]
ARGS = sys.argv[3:]
ONLY = ARGS[ARGS.index("--only") + 1] if "--only" in ARGS else None
SSH = ARGS[ARGS.index("--ssh") + 1:ARGS.index("--ssh") + 3] if "--ssh" in ARGS else None

SRC_FILES = [
    "a/b", "a/c/b", "a/x.o", "a/keep.o", "a/b.txt", "a/local",
    "deep/a/b", "deep/a/b.d/f", "deep/a/z/b", "deep/x/local", "deep/k.tmp",
    "b", "ab", "x.o", "keep.o", "keep.tmp", "k.tmp", "foo", "foo2",
    "build/out.o", "build/sub/gen.c", "src/main.c", "src/main.h", "src/util/u.c", "src/util/u.o",
    "lib/build", "cmd", "x/file.txt", "x/y/file.txt", "x/y/zzz.txt", "x/z/file.txt",
    "odd/[ab]", "odd/a b", "odd/star*", "odd/back\\slash", "odd/q?", ".hidden", "d.tmp/f", "z",
]
SRC_DIRS = ["empty", "a/emptydir", "keep"]
SRC_LINKS = {"link": "a/b", "a/dangling": "nowhere"}
# Rule files inside SRC (dir-merge cases), copied to DST too (DST reads its own).
RULE_FILES = {
    ".rules": "- *.tmp\n- /foo\n",
    "a/.rules": "+ keep.o\n- *.o\n- /local\n",
    "deep/.rules": "!\n- b\n",
    ".rsync-filter": "- *.o\n+ keep.tmp\n",
    ".words": "+_keep.o -_*.o  -_/foo\n",
    "src/.rsync-filter": "- /util/\n",
    "deep/a/.rsync-filter": "P b\n",
}
DST_MISSING = ["a/keep.o", "src/main.h", "x/y/zzz.txt", "z"]
DST_EXTRA_FILES = [
    "extra.o", "extra", "gone/x.o", "gone/y", "gone/sub/keep.tmp", "a/extra.o", "a/extra",
    "deep/a/b.d/extra", "deep/a/extra.o", "build/stale.o", "keep/extra", "src/util/old.o",
    "x/y/old.txt", "b.old/f", "foo3", "deep/local",
]


def make_src(root):
    for rel in SRC_FILES:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(rel + "\n")
    for rel in SRC_DIRS:
        os.makedirs(os.path.join(root, rel), exist_ok=True)
    for rel, target in SRC_LINKS.items():
        os.symlink(target, os.path.join(root, rel))
    for rel, text in RULE_FILES.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)


def make_dst(src, root):
    shutil.copytree(src, root, symlinks=True)
    for rel in DST_MISSING:
        os.unlink(os.path.join(root, rel))
    for rel in DST_EXTRA_FILES:
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("dst only\n")


def listing(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            kind = "l" if os.path.islink(p) else "d" if os.path.isdir(p) else "f"
            out.append(kind + " " + os.path.relpath(p, root))
    return sorted(out)


PATTERNS = [
    "b", "/b", "a/b", "a/**/b", "/**/b", "**/b", "*/b", "a/*", "a/**", "a/***", "/a/***", "a/",
    "/a/", "*.o", "/*.o", "**.o", "*.tmp", "b*", "?", "??", "[ab]", "[!a]*", "[[:alpha:]]",
    "*/", "*", "**", "deep/a/b", "/deep/a/b", "deep/**", "/deep/**/b", "d*/a", "a*/***",
    "local", "/local", "build/", "build", "x/y/", "x/*/file.txt", "odd/\\[ab]", "odd/[[]ab]",
    "odd/star\\*", "odd/back\\slash", "odd/a b", "**/z/b", "*/*/b", "deep/*/b", "keep/",
    "*.d/", "src/**/*.o", "/src/util/", "foo*", "b.d", "*.txt",
]
FORMS = [
    lambda p: ["--exclude", p],
    lambda p: ["--include", p, "--exclude", "*"],
    lambda p: ["--include", "*/", "--include", p, "--exclude", "*"],
    lambda p: ["-f", "- " + p],
    lambda p: ["-f", "H " + p],
    lambda p: ["-f", "P " + p],
    lambda p: ["-f", "-p " + p],
    lambda p: ["-f", "-! " + p],
    lambda p: ["--delete-excluded", "--exclude", p],
    lambda p: ["-f", "R " + p, "-f", "- *.o", "-f", "- gone/"],
    lambda p: ["--exclude", "- " + p],
]

MAN_PAGE_EXAMPLES = [
    ["-f", "+ x/", "-f", "+ x/y/", "-f", "+ x/y/file.txt", "-f", "- *"],
    ["-f", "+ file.txt", "-f", "- *"],
    ["-f", "- zzz.txt"],
    ["-f", "- *.o", "-f", "- cmd"],
    ["-f", "-p *.o", "-f", "- cmd"],
    ["-f", "-_*.o", "-f", "-_cmd"],
    ["-f", "- /foo"],
    ["-f", "- foo/"],
    ["-f", "- foo/*/bar"],
    ["-f", "- /foo/**/bar"],
    ["-f", "+ */", "-f", "+ *.c", "-f", "- *"],
    ["-f", "+ foo/", "-f", "+ foo/bar.c", "-f", "- *"],
    ["-f", "-! */"],
    ["-f", "exclude,s *.o", "-f", "protect,p keep.o"],
    ["-f", "hide *.o", "-f", "show keep.o"],
    ["-f", "+,p keep.tmp", "-f", "- *.tmp"],
    ["-f", "+,p gone/", "-f", "- *.o", "-f", "- gone/"],
    ["-f", "+ /keep/***", "-f", "- *"],
    ["--exclude", "*.o", "--include", "keep.o"],
    ["--include", "keep.o", "--exclude", "*.o"],
    ["--exclude", "*.o", "-f", "!", "--exclude", "*.tmp"],
    ["--exclude", "+ keep.o", "--exclude", "*.o"],
    ["--delete-excluded", "-f", "P *.o", "--exclude", "*.o"],
    ["--delete-excluded", "-f", "-r gone/", "--exclude", "gone/"],
]

DIR_MERGE_CASES = [
    ["-f", ": .rules"],
    ["-f", ":e .rules"],
    ["-f", "dir-merge,e .rules", "--exclude", "*.o"],
    ["--exclude", "*.o", "-f", ": .rules"],
    ["-f", ":n .rules"],
    ["-f", ":- .rules"],
    ["-f", ":+ .rules", "-f", "- *"],
    ["-f", ":s .rules"],
    ["-f", ":r .rules"],
    ["-f", ":p .rules"],
    ["-f", ":w .words"],
    ["-f", ":we .words"],
    ["-F"],
    ["-FF"],
    ["-F", "-F", "--exclude", "*.tmp"],
    ["-f", ": /.rsync-filter"],
    ["-f", ":e /.rsync-filter"],
    ["--delete-excluded", "-F"],
    ["-f", ": .rules", "-f", ": .rsync-filter"],
]


def merge_file_cases(work):
    files = {
        "ex-list": "*.o\n# comment\n+ keep.o\n; also\n\n/build/\n",
        "in-list": "*/\n*.c\n- *.h\n",
        "rules": "- *.tmp\nmerge " + os.path.join(work, "more") + "\n+ keep.o\n- *.o\n",
        "more": "P extra\n",
        "words": "*.o *.tmp\n  build/\n",
        "clear": "- *.o\n!\n- *.tmp\n",
        "plain": "- *.o\n+ keep.tmp\n- *.tmp\n",
    }
    for name, text in files.items():
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    p = lambda n: os.path.join(work, n)
    return [
        ["--exclude-from", p("ex-list")],
        ["--include-from", p("in-list"), "--exclude", "*"],
        ["-f", "merge " + p("rules")],
        ["-f", ". " + p("rules")],
        ["-f", "merge,- " + p("words")],
        ["-f", "merge,-w " + p("words")],
        ["-f", "merge,+ " + p("in-list"), "-f", "- *"],
        ["-f", "merge,s " + p("plain")],
        ["-f", "merge,p " + p("plain")],
        ["-f", "merge,r " + p("plain")],
        ["--exclude-from", p("clear")],
        ["-f", ". " + p("clear")],
    ]


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")


def compare(run_, src, dst0, slots):
    """None when both tools agree, "refused" for ktsync's empty-SRC guard, else a report."""
    i, opts, way, label = run_
    w = slots.get()
    try:
        d1, d2 = os.path.join(WORK, "d1-%d" % w), os.path.join(WORK, "d2-%d" % w)
        for d in (d1, d2):
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(dst0, d, symlinks=True)
        r1 = run(["rsync", "-a", "--delete"] + opts + [src + "/", d1 + "/"])
        # --force-delete: every DST here is a fresh copy (a "first mirror"); the guard has its own test.
        kt = [KTSYNC, "mirror", "--no-progress", "--force-delete", "--state-dir", os.path.join(WORK, "state-%d" % w)]
        if way == "local":
            r2 = run(kt + opts + [src, d2])
        else:
            kt += ["-e", SSH[0], "--remote-ktsync", KTSYNC] + opts
            r2 = run(kt + ([src, SSH[1] + ":" + d2] if way == "push" else [SSH[1] + ":" + src, d2]))
        l1, l2 = listing(d1), listing(d2)
    finally:
        slots.put(w)
    if r2.returncode == 42 and r1.returncode == 0 and l2 == listing(dst0):
        return "refused"
    ok_codes = r1.returncode == 0 and r2.returncode == 0
    if l1 == l2 and ok_codes:
        return None
    lines = ["not ok - case %d: %s" % (i, label)]
    if not ok_codes:
        lines.append("#   exit codes: rsync %d, ktsync %d" % (r1.returncode, r2.returncode))
        lines += ["#   " + line for line in (r1.stderr + r2.stderr).splitlines()[:6]]
    only1 = sorted(set(l1) - set(l2))
    only2 = sorted(set(l2) - set(l1))
    if only1:
        lines.append("#   only after rsync:  " + ", ".join(only1[:12]))
    if only2:
        lines.append("#   only after ktsync: " + ", ".join(only2[:12]))
    return "\n".join(lines)


def main():
    src = os.path.join(WORK, "src")
    dst0 = os.path.join(WORK, "dst0")
    make_src(src)
    make_dst(src, dst0)
    # Read by "dir-merge /.rsync-filter" (-F) above SRC; anchored at WORK. The DSTs are
    # siblings of SRC, so it reaches them too, as it does in rsync.
    with open(os.path.join(WORK, ".rsync-filter"), "w") as f:
        f.write("- /*/z\n")
    table = [] if SSH else [form(p) for p in PATTERNS for form in FORMS]
    # The sanitizer pass (scripts/test.sh) runs every Nth table case: the binary is 3x slower.
    cases = table[::int(os.environ.get("KTSYNC_E2E_FILTER_SAMPLE", "1"))]
    cases += MAN_PAGE_EXAMPLES + DIR_MERGE_CASES + merge_file_cases(WORK)
    ways = ["push", "pull"] if SSH else ["local"]
    runs = []
    for opts in cases:
        for way in ways:
            label = " ".join(repr(o) if " " in o or not o else o for o in opts)
            label += "" if way == "local" else " (" + way + ")"
            if not ONLY or ONLY in label:
                runs.append((len(runs), opts, way, label))
    # Two workers, each with its own DSTs and state: the machine has two cores.
    slots = queue.Queue()
    for w in range(2):
        slots.put(w)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda r: compare(r, src, dst0, slots), runs))
    failures = [r for r in results if r is not None and r != "refused"]
    refused = results.count("refused")
    ran = len(runs)
    for report in failures:
        print(report)
    failures = len(failures)
    print("# %d cases, %d differ, %d where ktsync refused to empty DST" % (ran, failures, refused))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
