#include "apply/metadata.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "manifest/fake_super.h"
#include "manifest/xattr_io.h"
#include "util/error.h"

namespace ktsync {

namespace {

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string What(const char* op, std::string_view rel) {
  std::string s(op);
  s += ' ';
  s += rel.empty() ? std::string_view(".") : rel;
  return s;
}

// Our credentials do not change during a run: read once, not with 1-3 syscalls per file.
struct Credentials {
  bool root = false;
  std::vector<gid_t> groups;  // effective gid and supplementary groups
};

const Credentials& Mine() {
  static const Credentials creds = [] {
    Credentials c;
    c.root = geteuid() == 0;
    c.groups.push_back(getegid());
    int n = getgroups(0, nullptr);
    if (n > 0) {
      std::vector<gid_t> more(static_cast<size_t>(n));
      n = getgroups(n, more.data());
      if (n > 0) c.groups.insert(c.groups.end(), more.begin(), more.begin() + n);
    }
    return c;
  }();
  return creds;
}

bool InMyGroups(gid_t gid) { return std::find(Mine().groups.begin(), Mine().groups.end(), gid) != Mine().groups.end(); }

// What to chown to, as rsync does it: the owner only when we are root (nobody else may give
// files away), the group only when root or a member of it; -1 leaves an id alone.
std::pair<uid_t, gid_t> TargetIds(const Entry& e, const MetaOptions& opts) {
  bool root = Mine().root;
  uid_t uid = opts.owner && root ? e.uid : static_cast<uid_t>(-1);
  gid_t gid = opts.group && (root || InMyGroups(e.gid)) ? e.gid : static_cast<gid_t>(-1);
  return {uid, gid};
}

// Returns whether it changed anything (a chown clears the setuid and setgid bits).
// `now`: the file's current status, when known; ids it already has are left alone.
bool ChownFd(int fd, const Entry& e, const MetaOptions& opts, const struct stat* now, std::string_view rel) {
  auto [uid, gid] = TargetIds(e, opts);
  if (now && uid == now->st_uid) uid = static_cast<uid_t>(-1);
  if (now && gid == now->st_gid) gid = static_cast<gid_t>(-1);
  if (uid == static_cast<uid_t>(-1) && gid == static_cast<gid_t>(-1)) return false;
  // AT_EMPTY_PATH works on O_PATH fds too, unlike fchown.
  if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0) throw SysError(What("chown", rel), errno);
  return true;
}

void SetMtimeFd(int fd, Timestamp mtime, std::string_view rel) {
  timespec ts[2] = {{0, UTIME_OMIT}, mtime.ToTimespec()};
  if (futimens(fd, ts) == 0) return;
  if (errno != EBADF) throw SysError(What("set times on", rel), errno);
  // O_PATH fd: the magic link names exactly this inode; nothing attacker-controlled is walked.
  if (utimensat(AT_FDCWD, ProcFdPath(fd).c_str(), ts, 0) != 0)
    throw SysError(What("set times on", rel), errno);
}

void NoteUnsupported(const MetaOptions& opts, uint8_t classes, std::string_view rel) {
  if (opts.unsupported_xattrs) opts.unsupported_xattrs->Add(classes, rel);
}

// Makes the attributes of opts.xattrs on `t` those of `e`: removes what `e` lacks, sets
// what differs. Returns EBADF untouched when `t` is an O_PATH fd (the caller retries).
int SyncXattrs(const XattrTarget& t, const Entry& e, const MetaOptions& opts, std::string_view rel, bool bare) {
  Xattrs have;
  if (bare && e.xattrs().empty()) return 0;
  if (int err = bare ? 0 : ReadXattrs(t, opts.xattrs, &have); err != 0) {
    if (err == EBADF) return err;
    if (err != ENOTSUP) throw SysError(What("read extended attributes of", rel), err);
    if (uint8_t wanted = XattrClassesIn(e.xattrs()) & opts.xattrs) NoteUnsupported(opts, wanted, rel);
    return 0;
  }
  if (opts.fake_super) StripFakeStat(have);  // ours, set after the others
  XattrEdit edit = DiffXattrs(e.xattrs(), have, opts.xattrs);
  for (const std::string& name : edit.remove) {
    if (t.Remove(name.c_str()) != 0 && errno != ENODATA)
      throw SysError(What(("remove extended attribute " + name + " of").c_str(), rel), errno);
  }
  for (const Xattr* x : edit.set) {
    if (t.Set(x->name.c_str(), x->value.data(), x->value.size()) == 0) continue;
    if (!XattrsUnsupported(errno))
      throw SysError(What(("set extended attribute " + x->name + " on").c_str(), rel), errno);
    NoteUnsupported(opts, XattrClassOf(x->name), rel);
  }
  return 0;
}

void StoreFakeStat(int fd, const Entry& e, std::string_view rel) {
  std::string value = EncodeFakeStat(e);
  if (XattrTarget::Fd(fd).Set(kFakeSuperXattr, value.data(), value.size()) == 0) return;
  if (errno != EBADF || XattrTarget::PathFd(fd).Set(kFakeSuperXattr, value.data(), value.size()) != 0)
    throw SysError(What((std::string("store ") + kFakeSuperXattr + " (--fake-super) on").c_str(), rel), errno);
}

}  // namespace

void ChmodFd(int fd, uint32_t mode, std::string_view rel) {
  mode &= 07777;
  if (fchmod(fd, mode) == 0) return;
  if (errno != EBADF) throw SysError(What("chmod", rel), errno);
  if (chmod(ProcFdPath(fd).c_str(), mode) != 0) throw SysError(What("chmod", rel), errno);
}

void ApplyMetaToFd(int fd, const Entry& e, const MetaOptions& opts, std::string_view rel, bool bare) {
  // An fstat is far cheaper than a chown or chmod (each a journalled inode update), and a
  // new file usually has its owner and permission bits already.
  struct stat now;
  bool known = fstat(fd, &now) == 0;
  bool chowned = !opts.fake_super && ChownFd(fd, e, opts, known ? &now : nullptr, rel);
  uint32_t mode = opts.fake_super ? PhysicalMode(e) : e.mode & 07777;
  bool set_mode = (opts.perms || opts.fake_super) && (chowned || !known || (now.st_mode & 07777) != mode);
  if (opts.fake_super && set_mode) {
    // Not root: writing user.* attributes takes write permission, which PhysicalMode grants.
    ChmodFd(fd, mode, rel);
    set_mode = false;
  }
  // Before the ACLs, which may take the owner's write bit that setting it needs.
  if (opts.fake_super) StoreFakeStat(fd, e, rel);
  if (opts.xattrs && SyncXattrs(XattrTarget::Fd(fd), e, opts, rel, bare) == EBADF)
    SyncXattrs(XattrTarget::PathFd(fd), e, opts, rel, bare);
  if (set_mode) ChmodFd(fd, mode, rel);
  if (opts.times) SetMtimeFd(fd, e.mtime, rel);
}

void ApplyMetaToLink(int parent_fd, const char* base, const Entry& e, const MetaOptions& opts,
                     std::string_view rel) {
  auto [uid, gid] = opts.fake_super ? std::pair{static_cast<uid_t>(-1), static_cast<gid_t>(-1)} : TargetIds(e, opts);
  if (uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) {
    if (fchownat(parent_fd, base, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
      throw SysError(What("chown", rel), errno);
  }
  if (opts.xattrs) SyncXattrs(XattrTarget::Beneath(parent_fd, base), e, opts, rel, false);
  if (opts.times) {
    timespec ts[2] = {{0, UTIME_OMIT}, e.mtime.ToTimespec()};
    if (utimensat(parent_fd, base, ts, AT_SYMLINK_NOFOLLOW) != 0)
      throw SysError(What("set times on", rel), errno);
  }
}

namespace {

// SELinux and Smack label every new file; the other modules Debian's kernel may stack
// (AppArmor, Landlock, Yama, ...) label none. Where securityfs is not mounted (containers),
// the modules' own filesystems say whether they are active.
bool LsmLabelsNewFiles() {
  static const bool labels = [] {
    if (FILE* f = std::fopen("/sys/kernel/security/lsm", "re")) {
      char buf[256];
      std::string lsms(buf, std::fread(buf, 1, sizeof buf, f));
      std::fclose(f);
      return lsms.find("selinux") != std::string::npos || lsms.find("smack") != std::string::npos;
    }
    return access("/sys/fs/selinux", F_OK) == 0 || access("/sys/fs/smackfs", F_OK) == 0;
  }();
  return labels;
}

}  // namespace

bool NewFilesMayGetXattrs(int dir_fd) {
  if (LsmLabelsNewFiles()) return true;
  if (fgetxattr(dir_fd, "system.posix_acl_default", nullptr, 0) >= 0) return true;
  return errno != ENODATA && !XattrsUnsupported(errno);  // EBADF (an O_PATH fd): cannot tell
}

uint8_t WritableXattrClasses() { return Mine().root ? kXattrAll : kXattrUnprivileged; }

uint32_t ProcessUmask() {
  static const uint32_t mask = [] {
    uint32_t m = 022;
    if (FILE* f = std::fopen("/proc/self/status", "re")) {
      char line[256];
      while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "Umask: %o", &m) == 1) break;
      std::fclose(f);
    }
    return m & 0777;
  }();
  return mask;
}

}  // namespace ktsync
