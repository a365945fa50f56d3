#include "apply/dest_tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "apply/anonymous_file.h"
#include "apply/temp_name.h"
#include "manifest/fake_super.h"
#include "util/error.h"
#include "util/open_beneath.h"

namespace ktsync {

namespace {

std::string Quoted(std::string_view rel) { return rel.empty() ? "." : std::string(rel); }

void RequireSafe(std::string_view rel) {
  if (!IsSafeRelativePath(rel))
    throw Error(ExitCode::StreamData,
                "refusing unsafe destination path \"" + std::string(rel) +
                    "\": must be relative, without '.', '..' or empty components");
}

bool TypeMatches(mode_t m, EntryType t) {
  switch (t) {
    case EntryType::File: return S_ISREG(m);
    case EntryType::Dir: return S_ISDIR(m);
    case EntryType::Symlink: return S_ISLNK(m);
    case EntryType::Fifo: return S_ISFIFO(m);
    case EntryType::Socket: return S_ISSOCK(m);
    case EntryType::CharDev: return S_ISCHR(m);
    case EntryType::BlockDev: return S_ISBLK(m);
  }
  return false;
}

mode_t SpecialTypeBits(EntryType t) {
  switch (t) {
    case EntryType::Fifo: return S_IFIFO;
    case EntryType::Socket: return S_IFSOCK;
    case EntryType::CharDev: return S_IFCHR;
    case EntryType::BlockDev: return S_IFBLK;
    default: return 0;
  }
}

bool IsSymlinkBeneath(int root_fd, std::string_view rel) {
  UniqueFd fd = OpenBeneath(root_fd, rel, O_PATH);
  struct stat st;
  return fd && fstat(fd.get(), &st) == 0 && S_ISLNK(st.st_mode);
}

uint32_t NewModeWithoutPerms(const Entry& e) { return e.mode & 0777 & ~ProcessUmask(); }

// Not as root, a directory this process owns but may not write (SRC's mode 0500 or 0555,
// given to it by an earlier run) gets u+w before the first change in it: any change in a
// directory makes the planner emit its DirMeta, which gives the final mode back (and a
// run that dies before it leaves a mode the next run's plan fixes). Best effort: where it
// fails, the change itself fails and is reported.
void MakeWritable(int dir_fd) {
  static const uid_t euid = geteuid();
  struct stat st;
  if (euid == 0 || fstat(dir_fd, &st) != 0 || st.st_uid != euid || (st.st_mode & S_IWUSR)) return;
  try {
    ChmodFd(dir_fd, (st.st_mode & 07777) | S_IWUSR, "");
  } catch (const Error&) {
  }
}

// The fstat after an O_NOFOLLOW open tells us whether the name still holds what the plan
// expects: chmod'ing whatever was swapped in (a device, a hard link to a foreign file) is
// exactly what an attacker with write access to the tree would try.
// With --fake-super a device, FIFO or socket is a regular file on disk.
void RequireType(int fd, const Entry& e, const MetaOptions& meta) {
  struct stat st;
  if (fstat(fd, &st) != 0) throw SysError("stat " + Quoted(e.path), errno);
  if (!TypeMatches(st.st_mode, meta.fake_super ? PhysicalType(e.type) : e.type))
    throw Error(ExitCode::FileIo, Quoted(e.path) + ": is no longer a '" +
                                      std::string(1, TypeLetter(e.type)) +
                                      "' entry (changed during the run); left unchanged");
}

}  // namespace

DestTree::DestTree(UniqueFd root) : root_(std::move(root)) {
  if (!root_) throw Error(ExitCode::FileIo, "destination root: invalid directory fd");
}

DestTree DestTree::Open(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw SysError("open destination " + dir, errno);
  return DestTree(std::move(fd));
}

DestTree DestTree::Clone() const {
  UniqueFd fd(fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd) throw SysError("dup destination root fd", errno);
  return DestTree(std::move(fd));
}

int DestTree::ParentFd(std::string_view parent_rel, std::string_view for_rel, bool for_change) {
  if (parent_rel.empty()) {
    if (for_change && !root_writable_) MakeWritable(root_.get());
    root_writable_ |= for_change;
    return root_.get();
  }
  CachedDir* victim = &cache_[0];
  for (CachedDir& c : cache_) {
    if (c.fd && c.rel == parent_rel) {
      c.last_use = ++use_clock_;
      if (for_change && !c.writable) MakeWritable(c.fd.get());
      c.writable |= for_change;
      return c.fd.get();
    }
    if (!c.fd || (victim->fd && c.last_use < victim->last_use)) victim = &c;
  }
  UniqueFd fd = OpenBeneath(root_.get(), parent_rel, O_RDONLY | O_DIRECTORY);
  // An existing dir we may search but not read (mode 0311 as non-root): *at calls only need
  // search permission, which an O_PATH fd carries.
  if (!fd && errno == EACCES)
    fd = OpenBeneath(root_.get(), parent_rel, O_PATH | O_DIRECTORY);
  if (!fd) {
    int err = errno;
    // O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR; name the real cause.
    if (err == ENOTDIR && IsSymlinkBeneath(root_.get(), parent_rel)) err = ELOOP;
    std::string what = "open directory " + std::string(parent_rel) + " for " + std::string(for_rel);
    if (err == ELOOP || err == EXDEV)
      what += " (a component is a symlink; ktsync never follows symlinks inside the destination)";
    throw SysError(what, err);
  }
  victim->rel.assign(parent_rel);
  victim->fd = std::move(fd);
  victim->last_use = ++use_clock_;
  if (for_change) MakeWritable(victim->fd.get());
  victim->writable = for_change;
  victim->xattrs_for_new = -1;
  return victim->fd.get();
}

DestTree::Located DestTree::Locate(std::string_view rel, bool for_change) {
  RequireSafe(rel);
  if (rel.empty()) throw Error(ExitCode::FileIo, "refusing to replace the destination root itself");
  return Located{ParentFd(ParentPath(rel), rel, for_change), std::string(BaseName(rel))};
}

void DestTree::ForgetSubtree(std::string_view rel) {
  for (CachedDir& c : cache_) {
    std::string_view r = c.rel;
    if (c.fd && r.starts_with(rel) && (r.size() == rel.size() || r[rel.size()] == '/')) {
      c.fd.reset();
      c.rel.clear();
    }
  }
}

template <typename MakeFn>
std::string DestTree::MakeTemp(const char* op, std::string_view rel, MakeFn&& make) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string temp = MakeTempName();
    if (make(temp.c_str()) == 0) return temp;
    if (errno != EEXIST) break;
  }
  throw SysError(std::string(op) + " temp for " + std::string(rel), errno);
}

void DestTree::RenameIntoPlace(const std::string& temp, const Located& at, std::string_view rel) {
  if (renameat(at.parent, temp.c_str(), at.parent, at.base.c_str()) == 0) return;
  int err = errno;
  unlinkat(at.parent, temp.c_str(), 0);
  throw SysError("rename into place " + std::string(rel), err);
}

void DestTree::MkDir(const Entry& e) {
  RequireSafe(e.path);
  if (e.path.empty()) return;  // the root exists: we hold it
  Located at = LocateForChange(e.path);
  if (mkdirat(at.parent, at.base.c_str(), 0700) == 0) return;
  int err = errno;
  struct stat st;
  if (err == EEXIST && fstatat(at.parent, at.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      S_ISDIR(st.st_mode))
    return;
  throw SysError("mkdir " + e.path, err);
}

void DestTree::SyncParent(std::string_view rel) {
  RequireSafe(rel);
  int fd = ParentFd(ParentPath(rel), rel);
  if (fsync(fd) == 0) return;
  int err = errno;
  if (err == EBADF) {  // parent held as O_PATH (searchable, unreadable): reopen just to sync
    UniqueFd d(openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d && errno == EACCES) return;  // cannot be fsync'ed at all; the entry exists
    if (d && fsync(d.get()) == 0) return;
    err = errno;
  }
  throw SysError("fsync directory of " + std::string(rel), err);
}

void DestTree::MakeSymlink(const Entry& e, const MetaOptions& meta) {
  if (e.link_target().empty() || e.link_target().find('\0') != std::string::npos)
    throw Error(ExitCode::StreamData, Quoted(e.path) + ": invalid symlink target (empty or NUL)");
  Located at = LocateForChange(e.path);
  std::string temp = MakeTemp("symlink", e.path, [&](const char* t) {
    return symlinkat(e.link_target().c_str(), at.parent, t);
  });
  try {
    ApplyMetaToLink(at.parent, temp.c_str(), e, meta, e.path);
  } catch (...) {
    unlinkat(at.parent, temp.c_str(), 0);
    throw;
  }
  RenameIntoPlace(temp, at, e.path);
}

void DestTree::MakeSpecial(const Entry& e, const MetaOptions& meta) {
  mode_t type = SpecialTypeBits(e.type);
  if (type == 0) throw Error(ExitCode::FileIo, Quoted(e.path) + ": not a special file type");
  Located at = LocateForChange(e.path);
  dev_t rdev = (type == S_IFCHR || type == S_IFBLK) ? static_cast<dev_t>(e.rdev()) : 0;
  std::string temp = MakeTemp("mknod", e.path, [&](const char* t) {
    if (!meta.fake_super) return mknodat(at.parent, t, type | 0600, rdev);
    UniqueFd standin(openat(at.parent, t, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    return standin ? 0 : -1;
  });
  try {
    // O_PATH: opening a device or fifo for I/O could block or have side effects.
    UniqueFd fd(openat(at.parent, temp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw SysError("open new node " + e.path, errno);
    RequireType(fd.get(), e, meta);
    ApplyMetaToFd(fd.get(), e, meta, e.path);
    if (!meta.perms) ChmodFd(fd.get(), NewModeWithoutPerms(e), e.path);
  } catch (...) {
    unlinkat(at.parent, temp.c_str(), 0);
    throw;
  }
  RenameIntoPlace(temp, at, e.path);
}

void DestTree::HardLink(const Entry& e, std::string_view leader_rel) {
  // The leader's parent is the most recently used slot when the target's is looked up, so
  // with >= 2 slots it cannot be evicted in between.
  Located leader = Locate(leader_rel);
  Located at = LocateForChange(e.path);
  std::string temp = MakeTemp("link", e.path, [&](const char* t) {
    return linkat(leader.parent, leader.base.c_str(), at.parent, t, 0);
  });
  RenameIntoPlace(temp, at, e.path);
  // rename() between two names of one inode succeeds without doing anything, leaving the temp.
  unlinkat(at.parent, temp.c_str(), 0);
}

void DestTree::Remove(const Entry& dst_entry) {
  Located at = LocateForChange(dst_entry.path);
  int flags = dst_entry.IsDir() ? AT_REMOVEDIR : 0;
  if (unlinkat(at.parent, at.base.c_str(), flags) != 0 && errno != ENOENT)
    throw SysError((dst_entry.IsDir() ? "rmdir " : "unlink ") + dst_entry.path, errno);
  if (dst_entry.IsDir()) ForgetSubtree(dst_entry.path);
}

void DestTree::RemoveLeftover(std::string_view rel) {
  Located at = Locate(rel);
  struct stat before;
  bool known = fstat(at.parent, &before) == 0;
  if (unlinkat(at.parent, at.base.c_str(), 0) != 0 && errno != ENOENT)
    throw SysError("unlink " + std::string(rel), errno);
  if (!known) return;
  timespec times[2] = {before.st_atim, before.st_mtim};
  if (futimens(at.parent, times) != 0 && errno == EBADF)  // an O_PATH parent: via its magic link
    utimensat(AT_FDCWD, ("/proc/self/fd/" + std::to_string(at.parent)).c_str(), times, 0);
}

UniqueFd DestTree::OpenForMeta(const Located& at, const Entry& e) {
  int flags = O_PATH;
  if (e.IsDir()) flags = O_RDONLY | O_DIRECTORY | O_NONBLOCK;
  if (e.IsFile()) flags = O_RDONLY | O_NONBLOCK | O_NOCTTY;
  UniqueFd fd(openat(at.parent, at.base.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
  // Mode-000 entries as non-root: an O_PATH fd still lets us fix owner, mode and times.
  if (!fd && errno == EACCES)
    fd.reset(openat(at.parent, at.base.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) throw SysError("open " + e.path + " to set metadata", errno);
  return fd;
}

void DestTree::SetMeta(const Entry& src_entry, const MetaOptions& meta, bool created) {
  RequireSafe(src_entry.path);
  if (src_entry.type == EntryType::Symlink) {
    Located at = Locate(src_entry.path);
    ApplyMetaToLink(at.parent, at.base.c_str(), src_entry, meta, src_entry.path);
    return;
  }
  UniqueFd opened;
  int fd = root_.get();
  if (!src_entry.path.empty()) {
    opened = OpenForMeta(Locate(src_entry.path), src_entry);
    fd = opened.get();
  }
  RequireType(fd, src_entry, meta);
  ApplyMetaToFd(fd, src_entry, meta, src_entry.path);
  if (!meta.perms && created) ChmodFd(fd, NewModeWithoutPerms(src_entry), src_entry.path);
  if (src_entry.IsDir()) ForgetXattrsForNew(src_entry.path);  // its default ACL may have changed
}

bool DestTree::NewFilesMayGetXattrsIn(int parent_fd) {
  int8_t* known = parent_fd == root_.get() ? &root_xattrs_for_new_ : nullptr;
  for (CachedDir& c : cache_)
    if (c.fd.get() == parent_fd) known = &c.xattrs_for_new;
  if (!known) return NewFilesMayGetXattrs(parent_fd);
  if (*known < 0) *known = NewFilesMayGetXattrs(parent_fd) ? 1 : 0;
  return *known == 1;
}

void DestTree::ForgetXattrsForNew(std::string_view dir_rel) {
  if (dir_rel.empty()) root_xattrs_for_new_ = -1;
  for (CachedDir& c : cache_)
    if (c.fd && c.rel == dir_rel) c.xattrs_for_new = -1;
}

PendingFile DestTree::CreateFile(const Entry& src_entry) {
  Located at = LocateForChange(src_entry.path);
  UniqueFd fd = OpenAnonymousFile(at.parent, src_entry.mode);
  std::string temp;
  if (!fd) {
    temp = MakeTemp("create", src_entry.path, [&](const char* t) {
      fd.reset(openat(at.parent, t, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      return fd ? 0 : -1;
    });
  }
  UniqueFd parent(fcntl(at.parent, F_DUPFD_CLOEXEC, 0));
  if (!parent) {
    int err = errno;
    if (!temp.empty()) unlinkat(at.parent, temp.c_str(), 0);
    throw SysError("dup directory fd for " + src_entry.path, err);
  }
  PendingFile file(std::move(fd), std::move(parent), std::move(temp), std::move(at.base), src_entry.path);
  file.bare_ = !NewFilesMayGetXattrsIn(at.parent);
  return file;
}

}  // namespace ktsync
