"""sshd.py - a private sshd on 127.0.0.1 for the benchmark.

Same approach as tests/e2e/lib.sh start_sshd: fresh host and client keys in
DIR, a config that accepts only the current user with that key, a free port.
Both ktsync and rsync log in through it, so both pay the same ssh login.
For the slow link (netlink.py) a second one runs inside the server's network
namespace, on port 22 of the server's address there; its clients run inside the
client's namespace (CLIENT_PREFIX, `ip netns exec NS`).

Besides starting and stopping it, the class reports the CPU seconds of every
finished session (sshd's own crypto plus the remote command it ran): the
kernel adds a reaped child's user+system time, including that child's reaped
children, to the parent's cutime/cstime, and the listening sshd reaps each
session.  That is the only way to charge rsync-over-ssh for the decryption
that happens in sshd rather than in rsync.
"""
import os
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class PrivateSshd:
    """NETNS: run sshd inside that network namespace, listening on ADDRESS port 22 (a
    fresh namespace has it free); CLIENT_PREFIX runs the login check where the clients
    will run."""

    def __init__(self, directory, netns=None, address="127.0.0.1", client_prefix=()):
        self.dir = directory
        self.netns = netns
        self.address = address
        self.client_prefix = list(client_prefix)
        self.proc = None
        self.port = None
        self.user = subprocess.run(["id", "-un"], capture_output=True, text=True,
                                   check=True).stdout.strip()
        self.host = "%s@%s" % (self.user, address)
        self.key = os.path.join(directory, "client_key")

    def ssh_words(self, cipher=None):
        words = ["ssh", "-p", str(self.port), "-i", self.key,
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        if cipher:
            words += ["-c", cipher]
        return words

    def ssh_cmd(self, cipher=None):
        """The ssh command as one string, for -e options (no word contains spaces)."""
        return " ".join(self.ssh_words(cipher))

    def _keys(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for name in ("host_key", "client_key"):
            path = os.path.join(self.dir, name)
            if not os.path.exists(path):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                               check=True)
        with open(self.key + ".pub") as src, \
                open(os.path.join(self.dir, "authorized_keys"), "w") as dst:
            dst.write(src.read())

    def _config(self):
        d = self.dir
        lines = ["Port %d" % self.port, "ListenAddress %s" % self.address,
                 "HostKey %s/host_key" % d, "PidFile %s/sshd.pid" % d,
                 "AuthorizedKeysFile %s/authorized_keys" % d, "StrictModes no",
                 "UsePAM no", "PermitRootLogin yes", "PubkeyAuthentication yes",
                 "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                 "AllowUsers %s" % self.user, "MaxStartups 100", "LogLevel ERROR"]
        path = os.path.join(d, "sshd_config")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self):
        self._keys()
        os.makedirs("/run/sshd", exist_ok=True)
        # `ip netns exec` execs sshd, so self.proc is sshd itself either way (its
        # sessions' CPU is read from it).
        ns = ["ip", "netns", "exec", self.netns] if self.netns else []
        for _ in range(5):
            self.port = 22 if self.netns else free_port()
            cfg = self._config()
            self.proc = subprocess.Popen(ns + ["/usr/sbin/sshd", "-D", "-f", cfg, "-E",
                                               os.path.join(self.dir, "sshd.log")])
            if self._wait_listen() if self.netns else wait_port(self.port):
                subprocess.run(self.client_prefix + self.ssh_words() + [self.host, "true"],
                               check=True, stdin=subprocess.DEVNULL)
                return self
            self.stop()
        raise RuntimeError("could not start sshd (see %s/sshd.log)" % self.dir)

    def _wait_listen(self, seconds=10.0):
        """Wait until sshd listens, read from its own /proc/PID/net/tcp (the sockets of
        its network namespace, which this process cannot connect into)."""
        want = ":%04X" % self.port
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                with open("/proc/%d/net/tcp" % self.proc.pid) as f:
                    if any(ln.split()[1].endswith(want) and ln.split()[3] == "0A"
                           for ln in f.readlines()[1:]):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.proc = None

    def wait_idle(self, seconds=15.0):
        """Wait until every session has exited and been reaped."""
        path = "/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with open(path) as f:
                if not f.read().strip():
                    return True
            time.sleep(0.02)
        return False

    def sessions_cpu(self):
        """CPU seconds (user + system) of all reaped sessions so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After the comm field: state is fields[0]; cutime, cstime are stat fields 16, 17.
        cutime, cstime = int(fields[13]), int(fields[14])
        return (cutime + cstime) / os.sysconf("SC_CLK_TCK")

    def negotiated_cipher(self, cipher=None):
        """The cipher ssh actually negotiates (from ssh -v), for the report."""
        words = self.ssh_words(cipher)
        i = words.index("LogLevel=ERROR")
        words = words[:i - 1] + words[i + 1:] + ["-v"]
        out = subprocess.run(words + [self.host, "true"], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
        for line in out.stderr.splitlines():
            if "kex: server->client cipher:" in line:
                return line.split("cipher:")[1].split()[0]
        return "unknown"
