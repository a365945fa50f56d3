#include "store/root_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "store/state_dir.h"
#include "util/error.h"

namespace ktsync {
namespace {

// The holder's pid, or "" when the file is empty or half-written.
std::string ReadHolderPid(int fd) {
  char buf[32];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return {};
  return std::string(text);
}

void WritePid(int fd) {
  // Best effort: the pid only decorates the message another run prints.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, pid.data(), pid.size(), 0);
    (void)ignored;
  }
}

void Warn(const std::function<void(const std::string&)>& warn, const std::string& msg) {
  if (warn) warn(msg);
}

}  // namespace

RootLock RootLock::AcquireFile(const std::string& lock_path, const std::string& root,
                               const std::function<void(const std::string&)>& warn) {
  UniqueFd fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    Warn(warn, ErrnoMessage("cannot create lock file " + lock_path, errno) +
                   "; concurrent runs into " + root + " will not be detected");
    return RootLock();
  }
  int rc;
  do rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno != EWOULDBLOCK) {
      Warn(warn, ErrnoMessage("cannot lock " + lock_path, errno) + "; concurrent runs into " +
                     root + " will not be detected");
      return RootLock();
    }
    std::string pid = ReadHolderPid(fd.get());
    std::string holder = pid.empty() ? "" : ", held by pid " + pid;
    throw Error(ExitCode::Locked, root +
                                      ": another ktsync run is mirroring into this directory "
                                      "(lock " + lock_path + holder +
                                      "); wait for it to finish");
  }
  WritePid(fd.get());
  return RootLock(std::move(fd), lock_path);
}

RootLock RootLock::Acquire(const std::string& root_abs_path, const std::string& state_dir,
                           const std::function<void(const std::string&)>& warn) {
  std::string root = CanonicalRoot(root_abs_path);
  std::string dir = ResolveStateDir(state_dir);
  if (dir.empty()) {
    Warn(warn, "no state directory (HOME and XDG_STATE_HOME unset); concurrent runs into " +
                   root + " will not be detected; pass --state-dir");
    return RootLock();
  }
  std::string lock_path = DbPathFor(dir, root) + ".lock";
  try {
    MakeStateDirs(dir);
  } catch (const SysError& e) {
    Warn(warn, std::string(e.what()) + "; concurrent runs into " + root +
                   " will not be detected; pass --state-dir");
    return RootLock();
  }
  return AcquireFile(lock_path, root, warn);
}

}  // namespace ktsync
