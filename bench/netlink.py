"""netlink.py - a 100 Mbit/s link between two network namespaces, for -z.

On loopback compression only costs CPU; what -z is for is a slow link.  So the
"slowlink" scenario runs its client in one network namespace and a private sshd
(sshd.py, the remote ktsync / rsync under it) in another, joined by a veth pair
with a token bucket on each end's egress:

  client CLIENT_ADDR --veth, tbf rate 100mbit burst 256kb latency 50ms both ends--
      SERVER_ADDR server (sshd on port 22)

Same recipe as tests/e2e/data_via_test.sh.  The 10.233.0.0/24 addresses exist only
inside these namespaces, so nothing leaves the machine; the namespaces are named after
this process so two runs never collide.  The filesystem is shared: both sides see the
same source, destination and wrapper paths.  The tbf qdiscs count what they sent, so
each run also reports the bytes that crossed the link each way (`tc -s qdisc`:
"Sent N bytes").

teardown() ends whatever is left in the namespaces (only processes this run started
there: nothing else can enter them) and deletes them, which deletes the veth too; it
is safe after a partial setup and twice.
"""
import os
import re
import shutil
import subprocess
import time

RATE = "100mbit"
RATE_BYTES_S = 100e6 / 8
TBF = ["tbf", "rate", RATE, "burst", "256kb", "latency", "50ms"]
CLIENT_ADDR = "10.233.0.1"
SERVER_ADDR = "10.233.0.2"
SENT_RE = re.compile(r"^qdisc tbf .*?\n\s*Sent (\d+) bytes", re.M)


def _run(argv):
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), out.returncode,
                                                out.stderr.strip()))
    return out.stdout


class ShapedLink:
    def __init__(self):
        pid = os.getpid()
        self.client_ns, self.server_ns = "ktbenchC%d" % pid, "ktbenchS%d" % pid
        self.client_dev, self.server_dev = "ktbc%d" % pid, "ktbs%d" % pid  # <= 15 bytes
        self.made = []  # namespaces created so far, for teardown
        self.description = "a veth between network namespaces %s (client, %s) and %s " \
            "(sshd, %s), `tc qdisc ... %s` on both ends" % (
                self.client_ns, CLIENT_ADDR, self.server_ns, SERVER_ADDR, " ".join(TBF))

    def client_exec(self):
        """The prefix that runs a command on the client side (`ip netns exec` execs it,
        so /usr/bin/time and Popen see the command itself)."""
        return ["ip", "netns", "exec", self.client_ns]

    def server_exec(self):
        return ["ip", "netns", "exec", self.server_ns]

    def setup(self):
        missing = [t for t in ("ip", "tc") if not shutil.which(t)]
        if missing:
            raise RuntimeError("the slow link needs %s (Debian: iproute2)" % " ".join(missing))
        if os.geteuid() != 0:
            raise RuntimeError("the slow link needs root (network namespaces)")
        for ns in (self.client_ns, self.server_ns):
            _run(["ip", "netns", "add", ns])
            self.made.append(ns)
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # The pair is made directly inside the two namespaces: nothing is left in ours.
        _run(["ip", "link", "add", self.client_dev, "netns", self.client_ns, "type", "veth",
              "peer", "name", self.server_dev, "netns", self.server_ns])
        for ns, dev, addr in ((self.client_ns, self.client_dev, CLIENT_ADDR),
                              (self.server_ns, self.server_dev, SERVER_ADDR)):
            _run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev", dev])
            _run(["ip", "-n", ns, "link", "set", dev, "up"])
            _run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", dev, "root"] + TBF)
        return self

    def sent(self):
        """-> (bytes the client's end has sent, bytes the server's end has sent)."""
        out = []
        for ns, dev in ((self.client_ns, self.client_dev), (self.server_ns, self.server_dev)):
            text = _run(["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev])
            m = SENT_RE.search(text)
            if not m:
                raise RuntimeError("no tbf byte counter on %s in %s:\n%s" % (dev, ns, text))
            out.append(int(m.group(1)))
        return tuple(out)

    def teardown(self):
        for ns in reversed(self.made):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                                  text=True).stdout.split()
            for sig in ("TERM", "KILL"):
                for pid in pids:
                    subprocess.run(["kill", "-" + sig, pid], stderr=subprocess.DEVNULL)
                end = time.monotonic() + 2
                while pids and time.monotonic() < end:
                    pids = [p for p in pids if os.path.exists("/proc/" + p)
                            and _state(p) != "Z"]
                    time.sleep(0.05)
                if not pids:
                    break
            subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        self.made = []


def _state(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
