#include "apply/anonymous_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>

#include "apply/temp_name.h"

namespace ktsync {
namespace {

enum class LinkMethod { Unknown, EmptyPath, ProcFd, None };

std::atomic<LinkMethod> g_method{LinkMethod::Unknown};
std::mutex g_probe_mu;

constexpr int kTmpFileFlags = O_TMPFILE | O_RDWR | O_CLOEXEC;

int LinkWith(LinkMethod m, int fd, int dirfd, const char* name) {
  if (m == LinkMethod::EmptyPath) return linkat(fd, "", dirfd, name, AT_EMPTY_PATH);
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return linkat(AT_FDCWD, proc.c_str(), dirfd, name, AT_SYMLINK_FOLLOW);
}

// Links a throwaway unnamed file under a temp name (and removes it) to learn which method
// this process may use. An unnamed file can be linked once only, so the probe's is dropped.
bool Works(LinkMethod m, int dirfd) {
  UniqueFd probe(openat(dirfd, ".", kTmpFileFlags, 0600));
  if (!probe) return false;
  std::string name = MakeTempName();
  if (LinkWith(m, probe.get(), dirfd, name.c_str()) != 0) return false;
  unlinkat(dirfd, name.c_str(), 0);
  return true;
}

LinkMethod Method(int dirfd) {
  LinkMethod m = g_method.load();
  if (m != LinkMethod::Unknown) return m;
  std::lock_guard lock(g_probe_mu);
  m = g_method.load();
  if (m == LinkMethod::Unknown) {
    m = Works(LinkMethod::EmptyPath, dirfd) ? LinkMethod::EmptyPath
        : Works(LinkMethod::ProcFd, dirfd)  ? LinkMethod::ProcFd
                                            : LinkMethod::None;
    g_method.store(m);
  }
  return m;
}

}  // namespace

UniqueFd OpenAnonymousFile(int dirfd, uint32_t perms) {
  // Read per call (a getenv is nothing next to the openat): tests switch it between cases.
  if (const char* v = std::getenv("KTSYNC_TMPFILE"); v && std::string_view(v) == "0") return {};
  UniqueFd fd(openat(dirfd, ".", kTmpFileFlags, perms & 0777));
  // Probed only where O_TMPFILE works: a first directory without it must not decide "None".
  if (fd && Method(dirfd) == LinkMethod::None) fd.reset();
  return fd;
}

int LinkAnonymousFile(int fd, int dirfd, const char* name) { return LinkWith(g_method.load(), fd, dirfd, name); }

}  // namespace ktsync
