"""tools.py - the commands each tool runs in each scenario, and the targets.

A scenario names the source tree (src = base, src1 = after the 1 % change),
the state the destination is reset to before every timed run ("absent": no
destination; "mirror": an exact copy of src made untimed by `rsync -a --delete`),
and the tools that run it, ktsync first.  Competitors are only the ones the
issue asks for in that scenario:
  push      ktsync, rsync -a --delete over ssh (default cipher and aes128-gcm),
            tar | ssh tar, and the plaintext tar | socat | tar ceiling
  nochange  ktsync, rsync over ssh (no data moves, so one cipher)
  change    ktsync, rsync over ssh (both ciphers on large, default elsewhere)
  dryrun    ktsync -n, rsync -an -i --delete over ssh
  pull      ktsync, rsync over ssh (both ciphers on large, default elsewhere)
  local     ktsync, rsync -a, cp -a
The aes128-gcm variant of rsync runs where bytes dominate (every initial push,
and change/pull of large); on the small-file sets the cipher makes no measurable
difference and the full run has to fit in ~25 minutes.
"""
import shlex

AES = "aes128-gcm@openssh.com"
SOCAT_BUF = "262144"
TAR_BLOCKS = "512"

SCENARIOS = {
    "push": ("src", "absent", ["ktsync", "rsync-ssh", "rsync-ssh-aes", "tar-ssh", "plain-pipe"]),
    "nochange": ("src", "mirror", ["ktsync", "rsync-ssh"]),
    "change": ("src1", "mirror", ["ktsync", "rsync-ssh", "rsync-ssh-aes"]),
    "dryrun": ("src1", "mirror", ["ktsync-n", "rsync-n"]),
    "pull": ("src", "absent", ["ktsync-pull", "rsync-ssh-pull", "rsync-ssh-aes-pull"]),
    "local": ("src", "absent", ["ktsync-local", "rsync-local", "cp"]),
}
SCENARIO_ORDER = ["push", "nochange", "change", "dryrun", "pull", "local"]
AES_ONLY_ON_LARGE = ("change", "pull")
MEM_SCENARIOS = {
    "push": ("src", "absent", ["ktsync", "rsync-ssh"]),
    "local": ("src", "absent", ["ktsync-local", "rsync-local"]),
}

LABELS = {
    "ktsync": "ktsync push", "ktsync-n": "ktsync -n (push)", "ktsync-pull": "ktsync pull",
    "ktsync-local": "ktsync local",
    "rsync-ssh": "rsync/ssh", "rsync-ssh-aes": "rsync/ssh aes128-gcm",
    "rsync-ssh-pull": "rsync/ssh", "rsync-ssh-aes-pull": "rsync/ssh aes128-gcm",
    "rsync-n": "rsync -an -i/ssh", "tar-ssh": "tar|ssh tar",
    "plain-pipe": "tar|socat|tar plaintext", "rsync-local": "rsync -a", "cp": "cp -a",
}

# (dataset or "*", scenario, competitor, max ratio ktsync/competitor, wording)
TARGETS = [
    ("large", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("large", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    ("large", "push", "plain-pipe", 1 / 0.7, ">=70% ceiling"),
    ("small", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("small", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    ("many", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("many", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    ("many", "nochange", "rsync-ssh", 0.5, "<=0.5x time"),
    ("many", "change", "rsync-ssh", 0.5, "<=0.5x time"),
    ("many", "change", "rsync-ssh-aes", 0.5, "<=0.5x time"),
    ("*", "dryrun", "rsync-n", 0.5, "<=0.5x time"),
    ("*", "local", "cp", 1.0, "<=1.0x time"),
    ("*", "local", "rsync-local", 0.5, "<=0.5x time"),
]
MEM_TARGET_MB = 300


def tools_for(dataset, scenario):
    """The tools of SCENARIO on DATASET, ktsync first."""
    if dataset == "mem":
        return MEM_SCENARIOS[scenario][2]
    names = SCENARIOS[scenario][2]
    if dataset != "large" and scenario in AES_ONLY_ON_LARGE:
        names = [n for n in names if "aes" not in n]
    return names


def target_for(dataset, scenario, competitor):
    for ds, sc, comp, ratio, words in TARGETS:
        if ds in ("*", dataset) and sc == scenario and comp == competitor:
            return ratio, words
    return None


class Commands:
    """Builds argv lists; ssh is a sshd.PrivateSshd, wrap the remote wrappers."""

    def __init__(self, ktsync, ssh, wrap, state_local, remote_time):
        self.k = ktsync
        self.ssh = ssh
        self.wrap = wrap
        self.state = state_local
        self.remote_time = remote_time

    def _kt_remote(self):
        return ["-e", self.ssh.ssh_cmd(), "--remote-ktsync", self.wrap["ktsync"],
                "--state-dir", self.state]

    def _rsync_ssh(self, cipher=None):
        return ["rsync", "-a", "--delete", "-e", self.ssh.ssh_cmd(cipher),
                "--rsync-path", self.wrap["rsync"]]

    def build(self, tool, src, dst, port=None):
        """-> (argv, receiver_argv or None).  The receiver runs before argv starts."""
        h = self.ssh.host
        if tool == "ktsync":
            return [self.k, "mirror", "-q"] + self._kt_remote() + [src, h + ":" + dst], None
        if tool == "ktsync-n":
            return [self.k, "mirror", "-n"] + self._kt_remote() + [src, h + ":" + dst], None
        if tool == "ktsync-pull":
            return [self.k, "mirror", "-q"] + self._kt_remote() + [h + ":" + src, dst], None
        if tool == "ktsync-local":
            return [self.k, "mirror", "-q", "--state-dir", self.state, src, dst], None
        if tool in ("rsync-ssh", "rsync-ssh-aes"):
            cipher = AES if tool.endswith("aes") else None
            return self._rsync_ssh(cipher) + [src + "/", h + ":" + dst + "/"], None
        if tool in ("rsync-ssh-pull", "rsync-ssh-aes-pull"):
            cipher = AES if "aes" in tool else None
            return self._rsync_ssh(cipher) + [h + ":" + src + "/", dst + "/"], None
        if tool == "rsync-n":
            return (["rsync", "-an", "-i", "--delete", "-e", self.ssh.ssh_cmd(),
                     "--rsync-path", self.wrap["rsync"], src + "/", h + ":" + dst + "/"], None)
        if tool == "rsync-local":
            return ["rsync", "-a", src + "/", dst + "/"], None
        if tool == "cp":
            return ["cp", "-a", src, dst], None
        if tool == "tar-ssh":
            remote = "%s %s" % (self.wrap["tar"], shlex.quote(dst))
            pipe = "tar -C %s -b %s -cf - . | %s %s %s" % (
                shlex.quote(src), TAR_BLOCKS, self.ssh.ssh_cmd(), h, shlex.quote(remote))
            return ["bash", "-o", "pipefail", "-c", pipe], None
        if tool == "plain-pipe":
            recv = ("mkdir -p {d} && socat -u -b {b} TCP-LISTEN:{p},bind=127.0.0.1,reuseaddr "
                    "STDOUT | tar -b {t} -xf - -C {d}").format(
                        d=shlex.quote(dst), b=SOCAT_BUF, p=port, t=TAR_BLOCKS)
            send = "tar -C {s} -b {t} -cf - . | socat -u -b {b} STDIN TCP:127.0.0.1:{p}".format(
                s=shlex.quote(src), t=TAR_BLOCKS, b=SOCAT_BUF, p=port)
            receiver = ["/usr/bin/time", "-a", "-o", self.remote_time, "-f", "%e %U %S %M",
                        "bash", "-o", "pipefail", "-c", recv]
            return ["bash", "-o", "pipefail", "-c", send], receiver
        raise ValueError("unknown tool " + tool)
