#!/usr/bin/env python3
"""gen_tree.py - deterministic test trees for ktsync's end-to-end tests.

    gen_tree.py DIR [--seed N] [--big-mib M]      create the foundation tree in DIR
    gen_tree.py DIR --mutate [--seed N]            change a tree made by this script,
                                                   print the changed paths

DIR must be missing or empty when generating.  The same seed and --big-mib give
the same names, contents, modes and nanosecond mtimes on every run.

The foundation tree holds: nested dirs (depth 6), empty dirs, regular files of
0 B .. 3 MB plus big/big.bin (--big-mib MiB of incompressible, non-sparse data,
default 64), file modes 0600/0644/0755/0700/0444, dir modes 0700/0555/0755,
symlinks (relative, absolute, dangling, self-loop, to a dir, odd target bytes),
hard links (two pairs, one triple, one pair across dirs), a fifo, odd names
(space, newline, tab, leading dash, backslash, a literal "\\#012", invalid
UTF-8, 255-byte names, unicode, glob and quote characters) and deliberate
nanosecond mtimes on files, symlinks and dirs (dirs set after their children;
includes a pre-1970 and a post-2038 mtime, and .000000000/.999999999 ns).

--mutate makes this documented set of changes (see MUTATIONS below) and prints
to stdout one line per changed path, sorted by raw bytes, escaped like rsync
(see escape_path): modified content with the same size, changed size, mtime
only, chmod only (file and dir), added files and dirs, a deleted file, a deleted
subtree (every path in it is listed), a renamed file (old and new name), file ->
dir, dir -> file, file -> symlink, a retargeted symlink, one 4 KiB block changed
in the middle of big.bin.  Directories whose entries changed get their old mtime
back, so they are NOT listed: a correct `ktsync mirror -n -i` mentions exactly
the listed paths (a deleted or retyped dir's children may be reported or not).

Also importable: escape_path(), unescape_path().
"""

import argparse
import os
import random
import stat
import sys

# ---------------------------------------------------------------- escaping


def escape_path(raw: bytes) -> str:
    r"""rsync-style escaping: every byte < 0x20, 0x7f, every backslash and every
    byte that is not part of valid UTF-8 becomes \#ooo (3 octal digits).
    Valid printable UTF-8 is kept.  Always escaping '\' makes it reversible."""
    out = []
    i = 0
    n = len(raw)
    while i < n:
        b = raw[i]
        if b < 0x80:
            if b < 0x20 or b == 0x7F or b == 0x5C:
                out.append("\\#%03o" % b)
            else:
                out.append(chr(b))
            i += 1
            continue
        # longest valid UTF-8 sequence starting here (2..4 bytes)
        for length in (2, 3, 4):
            try:
                out.append(raw[i:i + length].decode("utf-8"))
                i += length
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("\\#%03o" % b)
            i += 1
    return "".join(out)


def unescape_path(text: str) -> bytes:
    r"""Inverse of escape_path; also accepts rsync's output, where a '\' not
    followed by '#ooo' and a tab may appear literally."""
    raw = text.encode("utf-8", "surrogateescape")
    out = bytearray()
    i = 0
    while i < len(raw):
        chunk = raw[i:i + 5]
        if (len(chunk) == 5 and chunk[:2] == b"\\#"
                and all(0x30 <= c <= 0x37 for c in chunk[2:])):
            out.append(int(chunk[2:].decode(), 8) & 0xFF)
            i += 5
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


# ---------------------------------------------------------------- helpers

ODD_NAMES = [
    b"with space",
    b"trailing space ",
    b"new\nline",
    b"tab\there",
    b"-leading-dash",
    b"--double-dash",
    b"back\\slash",
    b"fake\\#012escape",
    b"\xff\xfe-invalid-utf8",
    b"latin1-\xe9t\xe9",
    "unicode-ünïcødé-日本語-🙂".encode(),
    b"L" * 255,
    "é".encode() * 127 + b"x",          # 255 bytes, multibyte
    b"*glob?[x]",
    b"'single\"double`back",
    b".hidden",
    b"#hash;semi&amp|pipe$dollar",
]

FILE_MODES = [0o600, 0o644, 0o755, 0o700, 0o444]
DIR_MODES = [0o700, 0o555, 0o755]

S_2010 = 1262304000
S_2040 = 2208988800   # beyond 2038 (32-bit time_t)


class Tree:
    """Creates entries under a root, remembering the modes and mtimes to apply
    at the end (modes last so 0555 dirs can still be filled; dir mtimes after
    their children)."""

    def __init__(self, root: bytes, rng: random.Random):
        self.root = root
        self.rng = rng
        self.modes = {}    # rel -> mode (files, fifos, dirs)
        self.mtimes = {}   # rel -> mtime_ns (anything)

    def p(self, rel: bytes) -> bytes:
        return os.path.join(self.root, rel) if rel else self.root

    def rand_mtime(self) -> int:
        sec = S_2010 + self.rng.randrange(400_000_000)
        return sec * 1_000_000_000 + self.rng.randrange(1, 1_000_000_000)

    def mkdir(self, rel: bytes, mode=0o755, mtime=None):
        os.makedirs(self.p(rel), exist_ok=True)
        self.modes[rel] = mode
        self.mtimes[rel] = mtime if mtime is not None else self.rand_mtime()

    def file(self, rel: bytes, size: int, mode=0o644, mtime=None, data=None):
        parent = os.path.dirname(rel)
        if parent and parent not in self.modes:
            self.mkdir(parent)
        with open(self.p(rel), "wb") as f:
            if data is not None:
                f.write(data)
            else:
                write_random(f, self.rng, size)
        self.modes[rel] = mode
        self.mtimes[rel] = mtime if mtime is not None else self.rand_mtime()

    def symlink(self, rel: bytes, target: bytes, mtime=None):
        os.symlink(target, self.p(rel))
        self.mtimes[rel] = mtime if mtime is not None else self.rand_mtime()

    def hardlink(self, existing: bytes, rel: bytes):
        os.link(self.p(existing), self.p(rel))

    def fifo(self, rel: bytes, mode=0o640):
        os.mkfifo(self.p(rel))
        self.modes[rel] = mode
        self.mtimes[rel] = self.rand_mtime()

    def finish(self):
        """Apply modes and mtimes: non-dirs first, then dirs deepest first."""
        dirs = [r for r in self.modes if os.path.isdir(self.p(r)) and not os.path.islink(self.p(r))]
        for rel, ns in self.mtimes.items():
            if rel in dirs:
                continue
            path = self.p(rel)
            if not os.path.islink(path):
                os.chmod(path, self.modes[rel])
            os.utime(path, ns=(ns, ns), follow_symlinks=False)
        for rel in sorted(dirs, key=lambda r: (-r.count(b"/") - (1 if r else 0), r)):
            os.chmod(self.p(rel), self.modes[rel])
            ns = self.mtimes[rel]
            os.utime(self.p(rel), ns=(ns, ns))


def write_random(f, rng: random.Random, size: int):
    chunk = 1 << 20
    left = size
    while left > 0:
        n = min(chunk, left)
        f.write(rng.randbytes(n))
        left -= n


# ---------------------------------------------------------------- generate


def generate(root: bytes, seed: int, big_mib: int):
    rng = random.Random(seed)
    t = Tree(root, rng)
    t.mkdir(b"", 0o755)

    # nested dirs, depth 6, an empty leaf
    t.mkdir(b"a")
    t.mkdir(b"a/b")
    t.mkdir(b"a/b/c")
    t.mkdir(b"a/b/c/d")
    t.mkdir(b"a/b/c/d/e")
    t.mkdir(b"a/b/c/d/e/f")
    t.file(b"a/top.txt", 123)
    t.file(b"a/b/c/mid.txt", 4567)
    t.file(b"a/b/c/d/e/deep.txt", 89)

    # empty dirs
    t.mkdir(b"empty")
    t.mkdir(b"empty2")

    # sizes around page and block boundaries
    t.mkdir(b"sizes")
    for size in (0, 1, 100, 4095, 4096, 4097, 65535, 65536, 65537,
                 1 << 20, (1 << 20) + 7, 3_000_000):
        t.file(b"sizes/s%d" % size, size)
    t.file(b"sizes/text.txt", 0, data=b"hello ktsync\n" * 1000)   # compressible

    # the big file: real incompressible bytes, never sparse
    t.mkdir(b"big")
    t.file(b"big/big.bin", big_mib << 20)

    # many small files in one dir
    t.mkdir(b"many")
    for i in range(200):
        t.file(b"many/f%03d" % i, rng.randrange(0, 16385))

    # file modes
    t.mkdir(b"modes")
    for m in FILE_MODES:
        t.file(b"modes/f%04o" % m, 64 + m, mode=m)

    # dir modes; the 0555 dir has content (it must be filled before its chmod)
    t.mkdir(b"dirs")
    for m in DIR_MODES:
        t.mkdir(b"dirs/d%04o" % m, mode=m)
        t.file(b"dirs/d%04o/inside.txt" % m, 300, mode=0o444 if m == 0o555 else 0o600)
    t.mkdir(b"dirs/d0555/sub", mode=0o755)
    t.file(b"dirs/d0555/sub/x", 10)

    # symlinks
    t.mkdir(b"links")
    t.symlink(b"links/rel", b"../sizes/s100")
    t.symlink(b"links/abs", b"/etc/hostname")
    t.symlink(b"links/dangling", b"no/such/target")
    t.symlink(b"links/loop", b"loop")
    t.symlink(b"links/todir", b"../a/b")
    t.symlink(b"links/oddtarget", b"../odd names/new\nline")

    # hard links: two pairs (one across dirs), one triple
    t.mkdir(b"hard")
    t.file(b"hard/p1a", 1000)
    t.hardlink(b"hard/p1a", b"hard/p1b")
    t.file(b"hard/p2a", 2000)
    t.hardlink(b"hard/p2a", b"a/b/p2b")
    t.file(b"hard/t1", 3000, mode=0o600)
    t.hardlink(b"hard/t1", b"hard/t2")
    t.hardlink(b"hard/t1", b"a/t3")

    # special files
    t.mkdir(b"special")
    t.fifo(b"special/fifo")

    # odd names
    t.mkdir(b"odd names")
    for name in ODD_NAMES:
        t.file(b"odd names/" + name, len(name))
    t.mkdir(b"odd names/dir\nwith newline")
    t.file(b"odd names/dir\nwith newline/f\xff", 5)

    # edge mtimes
    t.mkdir(b"times")
    t.file(b"times/whole-second", 7, mtime=(S_2010 + 1) * 10**9)
    t.file(b"times/max-ns", 7, mtime=(S_2010 + 2) * 10**9 + 999_999_999)
    t.file(b"times/pre-1970", 7, mtime=-(86400 * 365) * 10**9 + 123_456_789)
    t.file(b"times/post-2038", 7, mtime=S_2040 * 10**9 + 987_654_321)
    t.symlink(b"times/link-ns", b"whole-second", mtime=(S_2010 + 3) * 10**9 + 1)

    t.finish()


# ---------------------------------------------------------------- mutate

MUTATIONS = """\
  sizes/s4096         content changed, same size, new mtime
  sizes/s100          size changed (appended), new mtime
  sizes/s4097         mtime only
  modes/f0644         chmod 0644 -> 0640
  dirs/d0755          chmod 0755 -> 0750 (dir)
  new/ new/added.txt new/sub/ new/sub/deeper.bin   added
  a/b/c/added.txt, "odd names/added<TAB>file"      added
  sizes/s1            deleted
  a/b/c/d/            deleted subtree (d, d/e, d/e/deep.txt, d/e/f)
  sizes/s65535        renamed to sizes/renamed_65535
  sizes/s65537        file -> dir (with sizes/s65537/inner.txt)
  empty/              dir -> file
  modes/f0755         file -> symlink (target f0600)
  links/rel           symlink retargeted to ../sizes/s4096
  "odd names/new<LF>line"  content and size changed
  big/big.bin         one 4 KiB block in the middle rewritten, new mtime
                      (only when big.bin >= 8 KiB)
"""


def mutate(root: bytes, seed: int):
    rng = random.Random(seed + 1)
    t = Tree(root, rng)
    changed = set()

    def need(rel, kind):
        st = os.lstat(t.p(rel))
        ok = {"f": stat.S_ISREG, "d": stat.S_ISDIR, "l": stat.S_ISLNK}[kind](st.st_mode)
        if not ok:
            raise SystemExit("gen_tree: %r is not the tree gen_tree.py made (%s expected)"
                             % (rel, kind))
        return st

    # remember every dir's mtime to restore it at the end
    dir_mtimes = {}
    for dirpath, dirnames, _ in os.walk(root):
        for d in [dirpath] + [os.path.join(dirpath, n) for n in dirnames]:
            dir_mtimes[os.path.relpath(d, root)] = os.lstat(d).st_mtime_ns

    def set_mtime(rel, ns=None):
        ns = ns if ns is not None else t.rand_mtime()
        os.utime(t.p(rel), ns=(ns, ns), follow_symlinks=False)

    # content changed, same size
    st = need(b"sizes/s4096", "f")
    with open(t.p(b"sizes/s4096"), "r+b") as f:
        f.write(bytes(b ^ 0xFF for b in f.read()))
    set_mtime(b"sizes/s4096", st.st_mtime_ns + 1_000_000_000)
    changed.add(b"sizes/s4096")

    # size changed
    need(b"sizes/s100", "f")
    with open(t.p(b"sizes/s100"), "ab") as f:
        f.write(rng.randbytes(50))
    set_mtime(b"sizes/s100")
    changed.add(b"sizes/s100")

    # mtime only
    st = need(b"sizes/s4097", "f")
    set_mtime(b"sizes/s4097", st.st_mtime_ns - 5_000_000_123)
    changed.add(b"sizes/s4097")

    # chmod only
    need(b"modes/f0644", "f")
    os.chmod(t.p(b"modes/f0644"), 0o640)
    changed.add(b"modes/f0644")
    need(b"dirs/d0755", "d")
    os.chmod(t.p(b"dirs/d0755"), 0o750)
    changed.add(b"dirs/d0755")

    # added
    os.mkdir(t.p(b"new"))
    t.file(b"new/added.txt", 777)
    os.mkdir(t.p(b"new/sub"))
    t.file(b"new/sub/deeper.bin", 100_000)
    t.file(b"a/b/c/added.txt", 55)
    t.file(b"odd names/added\tfile", 9)
    for rel in (b"new/added.txt", b"new/sub/deeper.bin", b"a/b/c/added.txt",
                b"odd names/added\tfile", b"new/sub", b"new"):
        set_mtime(rel)          # files first, then dirs deepest first
        changed.add(rel)

    # deleted file and subtree
    need(b"sizes/s1", "f")
    os.unlink(t.p(b"sizes/s1"))
    changed.add(b"sizes/s1")
    need(b"a/b/c/d", "d")
    for dirpath, dirnames, filenames in os.walk(t.p(b"a/b/c/d"), topdown=False):
        for n in filenames + dirnames:
            changed.add(os.path.relpath(os.path.join(dirpath, n), root))
    changed.add(b"a/b/c/d")
    rm_tree(t.p(b"a/b/c/d"))

    # rename
    need(b"sizes/s65535", "f")
    os.rename(t.p(b"sizes/s65535"), t.p(b"sizes/renamed_65535"))
    changed.update((b"sizes/s65535", b"sizes/renamed_65535"))

    # file -> dir
    need(b"sizes/s65537", "f")
    os.unlink(t.p(b"sizes/s65537"))
    os.mkdir(t.p(b"sizes/s65537"))
    t.file(b"sizes/s65537/inner.txt", 33)
    set_mtime(b"sizes/s65537/inner.txt")
    set_mtime(b"sizes/s65537")
    changed.update((b"sizes/s65537", b"sizes/s65537/inner.txt"))

    # dir -> file
    need(b"empty", "d")
    os.rmdir(t.p(b"empty"))
    t.file(b"empty", 12)
    set_mtime(b"empty")
    changed.add(b"empty")

    # file -> symlink
    need(b"modes/f0755", "f")
    os.unlink(t.p(b"modes/f0755"))
    os.symlink(b"f0600", t.p(b"modes/f0755"))
    set_mtime(b"modes/f0755")
    changed.add(b"modes/f0755")

    # symlink retargeted
    need(b"links/rel", "l")
    os.unlink(t.p(b"links/rel"))
    os.symlink(b"../sizes/s4096", t.p(b"links/rel"))
    set_mtime(b"links/rel")
    changed.add(b"links/rel")

    # odd name: content and size
    need(b"odd names/new\nline", "f")
    with open(t.p(b"odd names/new\nline"), "ab") as f:
        f.write(b"more")
    set_mtime(b"odd names/new\nline")
    changed.add(b"odd names/new\nline")

    # one block in the middle of the big file
    st = need(b"big/big.bin", "f")
    if st.st_size >= 8192:
        with open(t.p(b"big/big.bin"), "r+b") as f:
            f.seek((st.st_size // 2) & ~4095)
            f.write(rng.randbytes(4096))
        set_mtime(b"big/big.bin", st.st_mtime_ns + 7_000_000_000)
        changed.add(b"big/big.bin")

    # dirs whose entries changed keep their mtime, so only the paths above differ
    for rel, ns in sorted(dir_mtimes.items(), key=lambda kv: -kv[0].count(b"/")):
        path = t.p(b"" if rel == b"." else rel)
        if os.path.isdir(path) and not os.path.islink(path):
            os.utime(path, ns=(ns, ns))

    for rel in sorted(changed):
        sys.stdout.write(escape_path(rel) + "\n")


def rm_tree(path: bytes):
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        os.chmod(dirpath, 0o700)
        for n in filenames:
            os.unlink(os.path.join(dirpath, n))
        for n in dirnames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                os.unlink(p)
            else:
                os.rmdir(p)
    os.rmdir(path)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(
        description="Deterministic test trees for ktsync (see the module docstring).",
        epilog="--mutate changes:\n" + MUTATIONS,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--big-mib", type=int, default=64)
    ap.add_argument("--mutate", action="store_true")
    args = ap.parse_args()
    root = os.fsencode(args.dir)
    os.umask(0o022)
    if args.mutate:
        if not os.path.isdir(root):
            raise SystemExit("gen_tree: no tree at %s" % args.dir)
        mutate(root, args.seed)
        return
    if os.path.exists(root) and os.listdir(root):
        raise SystemExit("gen_tree: %s is not empty" % args.dir)
    generate(root, args.seed, args.big_mib)


if __name__ == "__main__":
    main()
