"""ceilings.py - reference speeds measured in the same run as the tools.

  ssh login      median wall time of `ssh host true` (paid by ktsync and rsync alike)
  aes-128-gcm    `openssl speed -evp aes-128-gcm -bytes 16384`, one core
  chacha20       the same for chacha20-poly1305 (OpenSSH's default cipher)
  xxh3-128       `xxhsum -b11` (in-cache 100 KB sample) and `xxhsum -H2` over a
                 page-cache-warm large file (includes read(2) copies)
  cold read      `cat` of the large dataset after dropping caches (the disk)
The plaintext tar|socat|tar pipe is measured per dataset as a push competitor.
"""
import glob
import os
import re
import statistics
import subprocess
import time

from measure import drop_caches

MIB = 1 << 20


def _wall(argv, **kw):
    t0 = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, **kw)
    return time.monotonic() - t0


def ssh_login(sshd, n=5):
    return statistics.median(_wall(sshd.ssh_words() + [sshd.host, "true"]) for _ in range(n))


def openssl_speed(alg, seconds=3):
    out = subprocess.run(["openssl", "speed", "-evp", alg, "-bytes", "16384", "-seconds",
                          str(seconds)], capture_output=True, text=True).stdout
    m = re.search(r"^\S+\s+([\d.]+)k\s*$", out.strip().splitlines()[-1])
    return float(m.group(1)) * 1000 / MIB if m else None


def xxhsum_bench():
    out = subprocess.run(["xxhsum", "-b11", "-q"], capture_output=True, text=True)
    m = re.search(r"\(([\d.]+) MB/s\)", out.stdout + out.stderr)
    return float(m.group(1)) if m else None


def xxhsum_file(path):
    """MiB/s of XXH3-128 over PATH with PATH already in the page cache."""
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
    return os.path.getsize(path) / MIB / _wall(["xxhsum", "-H2", path])


def cold_read(src_dir, can_drop):
    files = sorted(glob.glob(os.path.join(src_dir, "*")))
    drop_caches(can_drop)
    secs = _wall(["sh", "-c", 'cat "$@" > /dev/null', "sh"] + files)
    return sum(os.path.getsize(f) for f in files) / MIB / secs


def measure_all(sshd, large_src, can_drop, progress):
    c = {}
    progress("ceilings: ssh login")
    c["ssh_login_s"] = ssh_login(sshd)
    c["ssh_default_cipher"] = sshd.negotiated_cipher()
    progress("ceilings: openssl speed aes-128-gcm / chacha20-poly1305")
    c["aes128gcm_mib_s"] = openssl_speed("aes-128-gcm")
    c["chacha20_mib_s"] = openssl_speed("chacha20-poly1305")
    progress("ceilings: xxhsum")
    c["xxh128_bench_mb_s"] = xxhsum_bench()
    if large_src:
        c["xxh128_file_mib_s"] = xxhsum_file(sorted(glob.glob(large_src + "/*"))[0])
        progress("ceilings: cold read of the large dataset")
        c["cold_read_mib_s"] = cold_read(large_src, can_drop)
    return c
