"""tools.py - the commands each tool runs in each scenario, and the targets.

A scenario names the source tree (src = base, src1 = after the 1 % change),
the state the destination is reset to before every timed run ("absent": no
destination; "mirror": an exact copy of src made untimed by `rsync -a --delete`),
and the tools that run it, ktsync first.  Competitors are only the ones the
issue asks for in that scenario:
  push      ktsync, ktsync --data-via ssh (aes128-gcm), rsync -a --delete over ssh
            (default cipher and aes128-gcm), tar | ssh tar, and the plaintext
            tar | socat | tar ceiling
  nochange  ktsync, rsync over ssh (no data moves, so one cipher)
  change    ktsync, rsync over ssh (both ciphers on large, default elsewhere)
  dryrun    ktsync -n, rsync -an -i --delete over ssh
  pull      ktsync, rsync over ssh (both ciphers on large, default elsewhere)
  local     ktsync, rsync -a, cp -a
  slowlink  (the "text" tree only, over a 100 Mbit/s link between two network
            namespaces, see netlink.py) ktsync -z, rsync -az over ssh, and for
            reference ktsync and rsync -a without compression; every ssh uses
            aes128-gcm
The aes128-gcm variant of rsync runs where bytes dominate (every initial push,
and change/pull of large); on the small-file sets the cipher makes no measurable
difference and the full run has to fit in ~25 minutes.

Each scenario's first tool is compared with every other one.  A ktsync variant in
VARIANTS is also compared with competitors of its own: "ktsync-sshdata" (the data as
channels inside ssh) with rsync over the same cipher, since both then pay ssh's
encryption on one core; "ktsync-noz" (no -z over the slow link) with rsync -a.

With a baseline binary (bench.py --baseline, default /var/tmp/ktsync-base) every
scenario also runs "ktsync-base": the previous ktsync, against itself on the
remote side (it speaks an older wire protocol), as one more competitor.

The memory datasets ("mem": 1M empty files, "mem-100k": 100k; --quick 100k and
10k) run push, pull and local (and, on "mem" only, nochange and the baseline):
peak RSS of every side at both sizes (the limit and the flatness targets), the
time to first byte of the push (ktsync --json), and the no-change re-run.
"""
import fnmatch
import shlex

AES = "aes128-gcm@openssh.com"
SOCAT_BUF = "262144"
TAR_BLOCKS = "512"

BASE = "ktsync-base"  # tool ids of the baseline start with this
SCENARIOS = {
    "push": ("src", "absent", ["ktsync", "rsync-ssh", "rsync-ssh-aes", "ktsync-sshdata",
                               "tar-ssh", "plain-pipe", BASE]),
    "nochange": ("src", "mirror", ["ktsync", "rsync-ssh", BASE]),
    "change": ("src1", "mirror", ["ktsync", "rsync-ssh", "rsync-ssh-aes", BASE]),
    "dryrun": ("src1", "mirror", ["ktsync-n", "rsync-n", BASE + "-n"]),
    "pull": ("src", "absent", ["ktsync-pull", "rsync-ssh-pull", "rsync-ssh-aes-pull",
                               BASE + "-pull"]),
    "local": ("src", "absent", ["ktsync-local", "rsync-local", "cp", BASE + "-local"]),
}
# The compressible tree runs only over the shaped link, and nothing else runs there: -z
# is for slow links (on loopback it only costs CPU) and the other trees are
# incompressible.  No baseline here: it has no -z.
LINK_DATASET = "text"
LINK_SCENARIO = "slowlink"
LINK_SCENARIOS = {
    LINK_SCENARIO: ("src", "absent", ["ktsync-z", "rsync-z", "ktsync-noz", "rsync-noz"]),
}
SCENARIO_ORDER = ["push", "nochange", "change", "dryrun", "pull", "local", LINK_SCENARIO]
AES_ONLY_ON_LARGE = ("change", "pull")
# The 1M-entry tree: every side's peak RSS, time to first byte (push), the no-change
# re-run; the baseline runs here too.  The 100k tree: the same without nochange and the
# baseline, only so the 1M numbers can be checked for flatness.
MEM_DATASETS = ["mem-100k", "mem"]  # run order: the cheap one first
MEM_SCENARIOS = {
    "push": ("src", "absent", ["ktsync", "rsync-ssh", BASE]),
    "nochange": ("src", "mirror", ["ktsync", "rsync-ssh", BASE]),
    "pull": ("src", "absent", ["ktsync-pull", "rsync-ssh-pull", BASE + "-pull"]),
    "local": ("src", "absent", ["ktsync-local", "rsync-local", BASE + "-local"]),
}
MEM_SMALL_SCENARIOS = {sc: (a, b, [t for t in names if not t.startswith(BASE)])
                       for sc, (a, b, names) in MEM_SCENARIOS.items() if sc != "nochange"}
# ktsync (and the baseline) push the memory trees with --json: the time to first byte.
JSON_TOOLS = ("ktsync", BASE)
# ktsync variant -> the competitors it is measured against besides being one of ktsync's
# (see the docstring); a target about a variant names it (TARGETS' sixth element).
VARIANTS = {"ktsync-sshdata": ("rsync-ssh-aes",), "ktsync-noz": ("rsync-noz",)}

LABELS = {
    "ktsync": "ktsync push", "ktsync-n": "ktsync -n (push)", "ktsync-pull": "ktsync pull",
    "ktsync-local": "ktsync local", "ktsync-sshdata": "ktsync push, data inside ssh aes128-gcm",
    "ktsync-z": "ktsync -z push", "ktsync-noz": "ktsync push, no -z",
    "rsync-z": "rsync -az/ssh aes128-gcm", "rsync-noz": "rsync -a/ssh aes128-gcm",
    "rsync-ssh": "rsync/ssh", "rsync-ssh-aes": "rsync/ssh aes128-gcm",
    "rsync-ssh-pull": "rsync/ssh", "rsync-ssh-aes-pull": "rsync/ssh aes128-gcm",
    "rsync-n": "rsync -an -i/ssh", "tar-ssh": "tar|ssh tar",
    "plain-pipe": "tar|socat|tar plaintext", "rsync-local": "rsync -a", "cp": "cp -a",
    BASE: "ktsync-base push", BASE + "-n": "ktsync-base -n (push)",
    BASE + "-pull": "ktsync-base pull", BASE + "-local": "ktsync-base local",
}

# (dataset, scenario, competitor, max ratio ktsync/competitor, wording[, tool]); the first
# match wins.  fnmatch patterns; a dataset "*" matches large, small and many (and "text",
# whose only scenario has no target), not the memory trees (those are named explicitly).
# TOOL, when given, is the ktsync variant measured (see VARIANTS); without it the row is
# about the scenario's first tool.
TARGETS = [
    ("large", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("large", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    ("large", "push", "plain-pipe", 1 / 0.7, ">=70% ceiling"),
    ("small", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("small", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    ("many", "push", "rsync-ssh", 1 / 3, ">=3x thru"),
    ("many", "push", "rsync-ssh-aes", 1 / 3, ">=3x thru"),
    # The data inside ssh pays the same cipher as rsync/ssh (on large it is information).
    ("many", "push", "rsync-ssh-aes", 1 / 1.5, ">=1.5x thru (data in ssh)", "ktsync-sshdata"),
    ("many", "nochange", "rsync-ssh", 0.5, "<=0.5x time"),
    ("many", "change", "rsync-ssh", 0.5, "<=0.5x time"),
    ("many", "change", "rsync-ssh-aes", 0.5, "<=0.5x time"),
    ("*", "dryrun", "rsync-n", 0.5, "<=0.5x time"),
    ("*", "local", "cp", 1.0, "<=1.0x time"),
    ("*", "local", "rsync-local", 0.5, "<=0.5x time"),
    ("mem", "nochange", "rsync-ssh", 0.5, "<=0.5x time"),
    # The previous design ("today"): no slower anywhere, and faster where the overlap of
    # scan and transfer pays.
    ("many", "push", BASE, 0.8, "<=0.8x time, overlap pays"),
    ("*", "*", BASE + "*", 1.0, "<=1.0x time, no slower than today"),
    ("mem", "*", BASE + "*", 1.0, "<=1.0x time, no slower than today"),
]
# Memory (the issue): at most MEM_LIMIT_MB of peak RSS per side on the 1M-entry tree, and
# flat: RSS at 1M <= RSS at 100k + MEM_FLAT_MB, per side of push, pull and local.
MEM_LIMIT_MB = 64
MEM_FLAT_MB = 16


def is_mem(dataset):
    return dataset.startswith("mem")


def scenarios_for(dataset):
    """The scenario table of DATASET: name -> (src, dst reset, tools)."""
    if dataset == LINK_DATASET:
        return LINK_SCENARIOS
    if dataset == "mem":
        return MEM_SCENARIOS
    if is_mem(dataset):
        return MEM_SMALL_SCENARIOS
    return SCENARIOS


def tools_for(dataset, scenario, baseline=True):
    """The tools of SCENARIO on DATASET, ktsync first (without the baseline's unless
    BASELINE)."""
    names = scenarios_for(dataset)[scenario][2]
    if dataset != "large" and scenario in AES_ONLY_ON_LARGE:
        names = [n for n in names if "aes" not in n]
    if not baseline:
        names = [n for n in names if not n.startswith(BASE)]
    return names


def pairs(names):
    """(measured, competitor) pairs among NAMES (a scenario's tools, ktsync first): the
    first tool against every other, then each VARIANTS tool against its own competitors."""
    out = [(names[0], c) for c in names[1:]]
    for v, comps in VARIANTS.items():
        if v in names:
            out += [(v, c) for c in comps if c in names]
    return out


def target_for(dataset, scenario, competitor, tool=None):
    """(max ratio TOOL/COMPETITOR, wording) or None.  TOOL None: the scenario's first
    tool, which the rows without a sixth element are about."""
    first = scenarios_for(dataset)[scenario][2][0]
    for ds, sc, comp, ratio, words, *measured in TARGETS:
        if ds == "*" and is_mem(dataset):
            continue
        if (measured[0] if measured else first) != (tool or first):
            continue
        if (fnmatch.fnmatchcase(dataset, ds) and fnmatch.fnmatchcase(scenario, sc)
                and fnmatch.fnmatchcase(competitor, comp)):
            return ratio, words
    return None


class Commands:
    """Builds argv lists; ssh is a sshd.PrivateSshd, wrap the remote wrappers; BASE the
    baseline binary (or None), which runs against its own remote wrapper; PREFIX goes
    before every client command (`ip netns exec NS` for the slow link's client side)."""

    def __init__(self, ktsync, ssh, wrap, state_local, remote_time, base=None, prefix=()):
        self.k = ktsync
        self.base = base
        self.ssh = ssh
        self.wrap = wrap
        self.state = state_local
        self.remote_time = remote_time
        self.prefix = list(prefix)

    def _kt_remote(self, remote="ktsync", cipher=None):
        return ["-e", self.ssh.ssh_cmd(cipher), "--remote-ktsync", self.wrap[remote],
                "--state-dir", self.state] + self._kt_guard(remote)

    @staticmethod
    def _kt_guard(remote):
        """Every run wipes the state, which holds the record of ktsync's earlier mirrors into a
        "mirror" DST (rsync made it): without --force-delete each run would be a first mirror,
        compared by a dry run first (issue 15), which a repeated backup never is."""
        return ["--force-delete"] if remote == "ktsync" else []  # the baseline predates it

    def _rsync_ssh(self, cipher=None, opts="-a"):
        return ["rsync", opts, "--delete", "-e", self.ssh.ssh_cmd(cipher),
                "--rsync-path", self.wrap["rsync"]]

    def build(self, tool, src, dst, port=None, json=False):
        """-> (argv, receiver_argv or None).  The receiver runs before argv starts.
        JSON: a ktsync push prints its --json event stream instead of being quiet."""
        argv, receiver = self._build(tool, src, dst, port, json)
        return self.prefix + argv, receiver

    def _build(self, tool, src, dst, port, json):
        h = self.ssh.host
        if tool.startswith(BASE):
            if not self.base:
                raise ValueError("no baseline binary for " + tool)
            k, remote, kind = self.base, BASE, tool[len(BASE):]
        elif tool.startswith("ktsync"):
            k, remote, kind = self.k, "ktsync", tool[len("ktsync"):]
        else:
            k = remote = kind = None
        if kind == "":
            quiet = "--json" if json else "-q"
            return [k, "mirror", quiet] + self._kt_remote(remote) + [src, h + ":" + dst], None
        if kind == "-sshdata":  # the cipher of rsync-ssh-aes, which it is measured against
            return ([k, "mirror", "-q", "--data-via", "ssh"] + self._kt_remote(remote, AES)
                    + [src, h + ":" + dst], None)
        if kind in ("-z", "-noz"):  # over the slow link; --data-via auto, i.e. direct there
            z = ["-z"] if kind == "-z" else []
            return ([k, "mirror", "-q"] + z + self._kt_remote(remote, AES)
                    + [src, h + ":" + dst], None)
        if kind == "-n":
            return [k, "mirror", "-n"] + self._kt_remote(remote) + [src, h + ":" + dst], None
        if kind == "-pull":
            return [k, "mirror", "-q"] + self._kt_remote(remote) + [h + ":" + src, dst], None
        if kind == "-local":
            return ([k, "mirror", "-q", "--state-dir", self.state] + self._kt_guard(remote)
                    + [src, dst], None)
        if tool in ("rsync-ssh", "rsync-ssh-aes"):
            cipher = AES if tool.endswith("aes") else None
            return self._rsync_ssh(cipher) + [src + "/", h + ":" + dst + "/"], None
        if tool in ("rsync-ssh-pull", "rsync-ssh-aes-pull"):
            cipher = AES if "aes" in tool else None
            return self._rsync_ssh(cipher) + [h + ":" + src + "/", dst + "/"], None
        if tool in ("rsync-z", "rsync-noz"):
            opts = "-az" if tool == "rsync-z" else "-a"
            return self._rsync_ssh(AES, opts) + [src + "/", h + ":" + dst + "/"], None
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
