#!/usr/bin/env python3
"""gen_dataset.py - deterministic benchmark trees.

Each dataset lives in DATA/<profile>/<name>/ and holds:
  src/    the base tree
  src1/   src with 1 % of its files rewritten (same size, new content, mtime + 1 day)
  .stamp  JSON of the parameters; a tree whose stamp matches is reused as is

Content is an AES-128-CTR keystream (`openssl enc` over /dev/zero) keyed by a
hash of the dataset name, so every byte is reproducible and incompressible.
File sizes, the changed-file sample and all mtimes come from seeded PRNGs and
fixed epochs, so two generations of the same spec are byte- and time-identical.

The memory trees ("mem": 1M, "mem-100k": 100k; --quick 100k and 10k) are N empty
files in 1000-file directories (1M: 1000 dirs, 1,001,001 entries with the root); they
only have src/ and their file mtimes are left at creation time (every reset and
check copies or compares them as they are).

The compressible tree ("text", for -z over the shaped link) is source-code-like and
log-like ASCII text, each file from its own seeded PRNG, plus about 10 % of files of
keystream (incompressible, as media or archives would be), sizes log-uniform over
4 KiB-2 MiB; it only has src/ (its one scenario is a push to an absent destination).

CLI:  gen_dataset.py DATA_ROOT NAME [--quick]     (prints the dataset dir)
"""
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

# Generator version per kind, in the stamp: a change to one kind's generator bumps only
# its own, so the other trees (2 GiB of "large", 1M files of "mem") are not regenerated.
GEN_VERSION = {"large": 3, "small": 3, "mem": 3, "text": 1}
MIB = 1 << 20
KIB = 1 << 10
BASE_EPOCH = 1_600_000_000  # file i gets mtime BASE_EPOCH + i (whole seconds)
CHANGE_SHIFT = 86_400       # a changed file's mtime moves one day forward
FILES_PER_DIR = 100
MEM_FILES_PER_DIR = 1000

# name -> (kind, count, size or (min, max)) for the full and the --quick profile.
SPECS = {
    "full": {
        "large": ("large", 4, 512 * MIB),
        "small": ("small", 10_000, (1 * KIB, 12 * KIB)),
        "many": ("small", 100_000, (1 * KIB, 12 * KIB)),
        "mem": ("mem", 1_000_000, 0),
        "mem-100k": ("mem", 100_000, 0),
        "text": ("text", 180, (4 * KIB, 2 * MIB)),  # 59 MiB, 12 % incompressible
    },
    "quick": {
        "large": ("large", 4, 64 * MIB),
        "small": ("small", 10_000, (1 * KIB, 12 * KIB)),
        "many": ("small", 20_000, (1 * KIB, 12 * KIB)),
        "mem": ("mem", 100_000, 0),
        "mem-100k": ("mem", 10_000, 0),  # --quick: 10x smaller, so flatness is still checked
        "text": ("text", 40, (4 * KIB, 2 * MIB)),  # 14 MiB, 13 % incompressible
    },
}


def keystream(label):
    """A subprocess whose stdout is an endless AES-CTR keystream for LABEL."""
    digest = hashlib.sha256(label.encode()).hexdigest()
    cmd = ["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", digest[:32],
           "-iv", digest[32:64], "-in", "/dev/zero"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            bufsize=0)


def read_exact(stream, n):
    parts, left = [], n
    while left:
        chunk = stream.read(min(left, 8 * MIB))
        if not chunk:
            raise RuntimeError("keystream ended early (openssl enc failed?)")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def close_stream(proc):
    proc.stdout.close()
    proc.kill()
    proc.wait()


def leaf_dir(i):
    """Three nested levels of up to 10 dirs each: leaf i -> dI/dJ/dK."""
    return os.path.join("d%d" % (i // 100), "d%d" % (i // 10 % 10), "d%d" % (i % 10))


def has_change(kind):
    """Whether datasets of KIND have src1/ (the 1 % change)."""
    return kind in ("large", "small")


def text_kinds(count):
    """The content kind of each file of a text tree: "code", "log" or "blob" (keystream,
    about 1 in 10).  Seeded by position only, so the --quick tree's plan is a prefix of
    the full one's."""
    rng = random.Random("text:kinds")
    return [rng.choices(("code", "log", "blob"), (45, 45, 10))[0] for _ in range(count)]


def file_list(kind, count):
    """Relative paths of the regular files of a dataset, in creation order."""
    if kind == "large":
        return ["file%d.bin" % i for i in range(count)]
    if kind == "text":  # a source tree's layout: code in modules, logs, binary assets
        names = {"code": "code/mod%02d/%s%03d.c", "log": "logs/svc%02d/%s%03d.log",
                 "blob": "assets/set%02d/%s%03d.bin"}
        return [names[k] % (i % 8, k, i) for i, k in enumerate(text_kinds(count))]
    return [os.path.join(leaf_dir(i // FILES_PER_DIR), "f%03d.dat" % (i % FILES_PER_DIR))
            for i in range(count)]


def file_sizes(name, kind, count, size):
    if kind == "large":
        return [size] * count
    rng = random.Random("sizes:" + name)
    if kind == "text":  # log-uniform: many small files, a few up to SIZE[1]
        lo, hi = math.log(size[0]), math.log(size[1])
        return [int(math.exp(rng.uniform(lo, hi))) for _ in range(count)]
    return [rng.randint(size[0], size[1]) for _ in range(count)]


def write_file(path, data, mtime):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.utime(path, (mtime, mtime))


def write_from_stream(path, stream, size, mtime):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        left = size
        while left:
            chunk = read_exact(stream, min(left, 8 * MIB))
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
            left -= len(chunk)
    finally:
        os.close(fd)
    os.utime(path, (mtime, mtime))


# Text content.  Identifiers are pairs of WORDS, numbers are small and a log line has a
# random request id, so zstd -3 compresses it about as much as real source and logs
# (the report prints the ratio zstd -3 gets on the whole tree).
WORDS = ("buffer size index count offset length value node entry table queue stream chunk "
         "block header record state config option request reply session socket handle path "
         "name file dir tree hash digest cache page range limit timeout retry error status "
         "flag mode type kind level item list map set key peer link route host port addr user "
         "group owner time stamp epoch delta total start end first last next prev parent child "
         "root leaf batch frame packet message event signal worker thread task job pool lock "
         "mutex cond").split()
LEVELS = ("INFO", "DEBUG", "WARN", "ERROR")
SERVICES = ("api", "auth", "store", "sched", "index", "gateway")
VERBS = ("GET", "PUT", "POST", "DELETE")


def word(rng):
    return rng.choice(WORDS)


def code_lines(rng):
    """Endless C-like source: functions of a few templated statements."""
    def w():
        return word(rng)

    def ident():
        return "%s_%s" % (w(), w())
    while True:
        yield "/* %s: %s the %s of a %s */" % (ident(), w(), w(), w())
        yield "static int %s(struct %s *%s, size_t %s)" % (ident(), w(), w(), w())
        yield "{"
        for _ in range(rng.randint(3, 12)):
            r = rng.random()
            if r < 0.3:
                yield "    if (%s->%s < %d) {" % (w(), w(), rng.randint(0, 4096))
                yield "        return %s(%s, %s);" % (ident(), w(), w())
                yield "    }"
            elif r < 0.6:
                yield "    %s = %s(%s, %s + %d);" % (ident(), ident(), w(), w(),
                                                      rng.randint(1, 64))
            elif r < 0.8:
                yield "    for (size_t i = 0; i < %s->%s; i++) {" % (w(), w())
                yield "        %s[i] = %s(%s, i);" % (w(), ident(), w())
                yield "    }"
            else:
                yield "    // %s the %s before %s" % (w(), ident(), w())
        yield "    return 0;"
        yield "}"
        yield ""


def log_lines(rng):
    """Endless service log: ISO timestamps, levels, request lines with ids and timings."""
    t = BASE_EPOCH * 1000 + rng.randint(0, 86_400_000)  # milliseconds
    while True:
        t += rng.randint(0, 1500)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 1000))
        level = rng.choices(LEVELS, (80, 12, 6, 2))[0]
        svc = rng.choice(SERVICES)
        if rng.random() < 0.7:
            yield "%s.%03dZ %-5s [%s-%d] %s /v1/%s/%d?%s=%d status=%d dur=%.1fms req=%06x" % (
                stamp, t % 1000, level, svc, rng.randint(1, 8), rng.choice(VERBS), word(rng),
                rng.randint(1, 99999), word(rng), rng.randint(0, 500),
                rng.choice((200, 200, 200, 204, 304, 404, 500)), rng.expovariate(0.05),
                rng.getrandbits(24))
        else:
            yield "%s.%03dZ %-5s [%s-%d] %s %s %s for %s %s (%d of %d)" % (
                stamp, t % 1000, level, svc, rng.randint(1, 8), word(rng), word(rng),
                rng.choice(("done", "failed", "retried", "queued")), word(rng), word(rng),
                rng.randint(1, 64), rng.randint(64, 128))


def text_content(name, i, kind, size):
    """SIZE bytes of ASCII text of KIND ("code" or "log") for file I, from its own PRNG
    (so every file is reproducible alone), cut at SIZE."""
    rng = random.Random("text:%s:%d" % (name, i))
    lines = code_lines(rng) if kind == "code" else log_lines(rng)
    parts, n = [], 0
    while n < size:
        line = next(lines)
        parts.append(line)
        n += len(line) + 1
    return ("\n".join(parts) + "\n").encode("ascii")[:size]


def set_dir_times(root):
    """Give every directory a fixed mtime (after its contents exist)."""
    for dirpath, _, _ in os.walk(root, topdown=False):
        os.utime(dirpath, (BASE_EPOCH, BASE_EPOCH))


def gen_files(root, name, kind, count, size):
    os.makedirs(root)
    paths = file_list(kind, count)
    sizes = file_sizes(name, kind, count, size)
    for d in sorted({os.path.dirname(p) for p in paths if os.path.dirname(p)}):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    kinds = text_kinds(count) if kind == "text" else ["blob"] * count
    stream = keystream("content:" + name)
    try:
        for i, (rel, sz, k) in enumerate(zip(paths, sizes, kinds)):
            if k == "blob":
                write_from_stream(os.path.join(root, rel), stream.stdout, sz, BASE_EPOCH + i)
            else:
                write_file(os.path.join(root, rel), text_content(name, i, k, sz),
                           BASE_EPOCH + i)
    finally:
        close_stream(stream)
    set_dir_times(root)


def changed_files(name, kind, count):
    """The deterministic 1 % sample (at least one file: 1 % of 4 files is 1 file)."""
    k = max(1, round(count * 0.01))
    rng = random.Random("change:" + name)
    return sorted(rng.sample(file_list(kind, count), k))


def apply_change(root, name, kind, count):
    """Rewrite the sample in place: same size, fresh content, mtime one day later."""
    stream = keystream("changed:" + name)
    try:
        for rel in changed_files(name, kind, count):
            path = os.path.join(root, rel)
            st = os.stat(path)
            write_from_stream(path, stream.stdout, st.st_size, int(st.st_mtime) + CHANGE_SHIFT)
    finally:
        close_stream(stream)
    return len(changed_files(name, kind, count))


def gen_mem(root, count):
    os.makedirs(root)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for d in range((count + MEM_FILES_PER_DIR - 1) // MEM_FILES_PER_DIR):
        sub = os.path.join(root, "d%04d" % d)
        os.mkdir(sub)
        n = min(MEM_FILES_PER_DIR, count - d * MEM_FILES_PER_DIR)
        for f in range(n):
            os.close(os.open(os.path.join(sub, "f%04d" % f), flags, 0o644))


def stamp_of(profile, name):
    kind, count, size = SPECS[profile][name]
    # Round-tripped through JSON so it compares equal to a loaded stamp (tuples -> lists).
    return json.loads(json.dumps({"version": GEN_VERSION[kind], "profile": profile,
                                  "name": name, "kind": kind, "count": count, "size": size}))


def info(profile, name):
    """Facts the benchmark reports about a dataset (no filesystem access)."""
    kind, count, size = SPECS[profile][name]
    sizes = file_sizes(name, kind, count, size) if kind != "mem" else [0] * count
    changed = changed_files(name, kind, count) if has_change(kind) else []
    index = {p: i for i, p in enumerate(file_list(kind, count))} if changed else {}
    if kind == "mem":
        dirs = (count + MEM_FILES_PER_DIR - 1) // MEM_FILES_PER_DIR
    else:  # every directory, the intermediate levels included
        dirs = set()
        for p in {os.path.dirname(p) for p in file_list(kind, count)} - {""}:
            while p and p not in dirs:
                dirs.add(p)
                p = os.path.dirname(p)
        dirs = len(dirs)
    out = {"name": name, "kind": kind, "files": count, "bytes": sum(sizes),
           "entries": count + dirs + 1, "changed_files": len(changed),
           "changed_bytes": sum(sizes[index[p]] for p in changed)}
    if kind == "text":
        out["incompressible_bytes"] = sum(sz for sz, k in zip(sizes, text_kinds(count))
                                          if k == "blob")
    return out


def ensure(data_root, profile, name, log=sys.stderr):
    """Generate DATA/<profile>/<name> unless its stamp already matches; return the dir."""
    top = os.path.join(data_root, profile, name)
    stamp_path = os.path.join(top, ".stamp")
    want = stamp_of(profile, name)
    try:
        with open(stamp_path) as f:
            if json.load(f) == want:
                return top
    except (OSError, ValueError):
        pass
    kind, count, size = SPECS[profile][name]
    print("[gen] %s/%s: generating %d %s files (one-time, cached)" % (profile, name, count, kind),
          file=log, flush=True)
    if os.path.exists(top):
        shutil.rmtree(top)
    os.makedirs(top)
    src = os.path.join(top, "src")
    if kind == "mem":
        gen_mem(src, count)
    else:
        gen_files(src, name, kind, count, size)
    if has_change(kind):
        src1 = os.path.join(top, "src1")
        subprocess.run(["cp", "-a", src, src1], check=True)
        apply_change(src1, name, kind, count)
    subprocess.run(["sync"], check=True)
    with open(stamp_path, "w") as f:
        json.dump(want, f)
    return top


def main(argv):
    if len(argv) < 3 or argv[2] not in SPECS["full"]:
        print(__doc__, file=sys.stderr)
        return 2
    profile = "quick" if "--quick" in argv[3:] else "full"
    print(ensure(argv[1], profile, argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
