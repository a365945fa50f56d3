#include "apply/pending_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "apply/anonymous_file.h"
#include "apply/temp_name.h"
#include "util/error.h"

namespace ktsync {

namespace {

void FsyncDir(int dir_fd, const std::string& rel) {
  if (fsync(dir_fd) == 0) return;
  int err = errno;
  if (err == EBADF) {  // parent held as O_PATH (unreadable dir): reopen it just to sync
    UniqueFd d(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    // A directory we may not read cannot be fsync'ed at all (no O_WRONLY for dirs); the
    // rename is done, so failing the entry now would only mislead.
    if (!d && errno == EACCES) return;
    if (d && fsync(d.get()) == 0) return;
    err = errno;
  }
  throw SysError("fsync directory of " + rel, err);
}

}  // namespace

PendingFile& PendingFile::operator=(PendingFile&& o) noexcept {
  if (this != &o) {
    Abort();
    fd_ = std::move(o.fd_);
    parent_ = std::move(o.parent_);
    temp_ = std::move(o.temp_);
    base_ = std::move(o.base_);
    rel_ = std::move(o.rel_);
    holes_ = o.holes_;
    bare_ = o.bare_;
  }
  return *this;
}

void PendingFile::Write(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd_.get(), p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError("write " + rel_, errno);
    }
    if (n == 0) throw SysError("write " + rel_, EIO);
    p += n;
    len -= static_cast<size_t>(n);
  }
}

void PendingFile::Skip(uint64_t len) {
  if (lseek(fd_.get(), static_cast<off_t>(len), SEEK_CUR) < 0) throw SysError("seek in " + rel_, errno);
  holes_ = true;
}

void PendingFile::Abort() noexcept {
  if (!parent_.valid()) return;
  fd_.reset();
  if (!unnamed()) unlinkat(parent_.get(), temp_.c_str(), 0);
  parent_.reset();
}

// A taken name is replaced atomically: the file gets a temp name first, then renameat.
void PendingFile::LinkIntoPlace() {
  if (LinkAnonymousFile(fd_.get(), parent_.get(), base_.c_str()) == 0) return;
  if (errno != EEXIST) throw SysError("link into place " + rel_, errno);
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string temp = MakeTempName();
    if (LinkAnonymousFile(fd_.get(), parent_.get(), temp.c_str()) != 0) {
      if (errno == EEXIST) continue;
      break;
    }
    if (renameat(parent_.get(), temp.c_str(), parent_.get(), base_.c_str()) == 0) return;
    int err = errno;
    unlinkat(parent_.get(), temp.c_str(), 0);
    throw SysError("rename into place " + rel_, err);
  }
  throw SysError("link temp for " + rel_, errno);
}

// Without --perms: a replaced regular file keeps its mode, a new one gets the source mode
// masked by the umask (rsync's rule).
int PendingFile::ModeWithoutPerms(const Entry& src_entry) const {
  struct stat st;
  if (fstatat(parent_.get(), base_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
    return static_cast<int>(st.st_mode & 07777);
  return static_cast<int>(src_entry.mode & 0777 & ~ProcessUmask());
}

FinalInfo PendingFile::Commit(const Hash128& expected, const Hash128& actual,
                              const Entry& src_entry, const MetaOptions& meta, bool fsync) {
  if (!parent_.valid()) throw Error(ExitCode::FileIo, rel_ + ": commit of an aborted file");
  if (!(expected == actual)) {
    Abort();
    throw Error(ExitCode::Partial, rel_ + ": content hash mismatch (expected " + expected.Hex() +
                                       ", got " + actual.Hex() + "); received data not kept");
  }
  try {
    if (holes_ && ftruncate(fd_.get(), static_cast<off_t>(src_entry.size)) != 0)
      throw SysError("set the size of " + rel_, errno);
    ApplyMetaToFd(fd_.get(), src_entry, meta, rel_, bare_);
    if (!meta.perms) ChmodFd(fd_.get(), static_cast<uint32_t>(ModeWithoutPerms(src_entry)), rel_);
    if (fsync && fdatasync(fd_.get()) != 0) throw SysError("fdatasync " + rel_, errno);
    if (unnamed())
      LinkIntoPlace();
    else if (renameat(parent_.get(), temp_.c_str(), parent_.get(), base_.c_str()) != 0)
      throw SysError("rename into place " + rel_, errno);
  } catch (...) {
    Abort();
    throw;
  }
  struct stat st;
  int stat_rc = fstat(fd_.get(), &st);
  int stat_err = errno;
  UniqueFd parent = std::move(parent_);  // committed: nothing left to clean up
  fd_.reset();
  if (fsync) FsyncDir(parent.get(), rel_);
  if (stat_rc != 0) throw SysError("stat " + rel_, stat_err);
  return FinalInfo{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                   static_cast<uint64_t>(st.st_size), Timestamp::Of(st.st_mtim).KeyNs(),
                   Timestamp::Of(st.st_ctim).KeyNs()};
}

}  // namespace ktsync
