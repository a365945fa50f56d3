"""dstfs.py - where benchmark destinations are written.

Every timed run starts from a reset destination, so the bench deletes a lot of
trees.  On an ext4 mounted with `discard` (as / is on these VMs) deleting is
pathological: `rm -rf` of 20,000 small files took 77 s here, versus 0.5 s on
the same disk without discard.  So, by default, when running as root on such a
filesystem, destinations go to a sparse ext4 image (DATA/dstfs.img, mounted
without discard at DATA/dstfs) that lives for the duration of the run.  Sources
stay on the original filesystem, which reads cold data about twice as fast as
the loop device.  `--dst-fs plain` keeps everything on the data dir's filesystem.

The 1M-entry memory bench measures peak RSS, not speed, and creating a million
files on disk took ~2 minutes per run here; its destinations go to a private
tmpfs (or /dev/shm when not root) and its runs keep the page cache warm.
"""
import os
import subprocess

IMAGE_SIZE = "48G"
IMAGE_INODES = "6000000"


def mount_options(path):
    """Mount options of the filesystem holding PATH (longest mount point prefix)."""
    real = os.path.realpath(path)
    best, opts = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            mnt = parts[1]
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, opts = mnt, parts[3]
    return opts.split(",")


def is_mounted(path):
    real = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == real for line in f)


class DstFs:
    def __init__(self, data_dir, mode):
        self.data = data_dir
        self.mode = mode
        self.mounted_here = False
        self.root = os.path.join(data_dir, "work")
        self.description = "plain directory on the data dir's filesystem"
        self.mem_mount = None
        self.mem_description = "-"

    def setup(self):
        use_loop = self.mode == "loop" or (
            self.mode == "auto" and os.geteuid() == 0 and "discard" in mount_options(self.data))
        if not use_loop:
            os.makedirs(self.root, exist_ok=True)
            return self
        image = os.path.join(self.data, "dstfs.img")
        mnt = os.path.join(self.data, "dstfs")
        os.makedirs(mnt, exist_ok=True)
        if not os.path.exists(image):
            subprocess.run(["truncate", "-s", IMAGE_SIZE, image], check=True)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-N", IMAGE_INODES, "-E",
                            "nodiscard,lazy_itable_init=1,lazy_journal_init=1", image],
                           check=True)
        if not is_mounted(mnt):
            # noinit_itable: no background inode-table zeroing during timed runs.
            subprocess.run(["mount", "-o", "loop,nodiscard,noatime,noinit_itable", image, mnt],
                           check=True)
            self.mounted_here = True
        self.root = os.path.join(mnt, "work")
        os.makedirs(self.root, exist_ok=True)
        self.description = ("ext4 loop image %s mounted without discard at %s "
                            "(the data dir's filesystem has 'discard')" % (image, mnt))
        return self

    def mem_root(self):
        """A directory on tmpfs for the memory bench's destinations."""
        if self.mem_mount:
            return os.path.join(self.mem_mount, "work")
        if os.geteuid() == 0:
            mnt = os.path.join(self.data, "memfs")
            os.makedirs(mnt, exist_ok=True)
            if not is_mounted(mnt):
                subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,nr_inodes=4m",
                                "ktsync-bench", mnt], check=True)
            self.mem_mount = mnt
        else:
            self.mem_mount = "/dev/shm/ktsync-bench-mem"
        root = os.path.join(self.mem_mount, "work")
        os.makedirs(root, exist_ok=True)
        self.mem_description = "tmpfs at %s, page cache not dropped" % self.mem_mount
        return root

    def teardown(self):
        if self.mem_mount and os.geteuid() == 0:
            subprocess.run(["umount", self.mem_mount], check=False)
            self.mem_mount = None
        if self.mounted_here:
            subprocess.run(["umount", os.path.dirname(self.root)], check=False)
            self.mounted_here = False
