#include "util/open_beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace ktsync {
namespace {

std::atomic<bool> g_have_openat2{true};

bool NeedsMode(int flags) { return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE; }

// Calls fn(component, is_last) for each non-empty component; stops early when fn is false.
template <typename Fn>
bool ForEachComponent(std::string_view rel, Fn fn) {
  size_t start = 0;
  while (start < rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string_view comp = rel.substr(start, end - start);
    size_t next = end + 1;
    while (next < rel.size() && rel[next] == '/') ++next;
    if (!comp.empty() && !fn(comp, next >= rel.size())) return false;
    start = next;
  }
  return true;
}

// ".." is refused outright (callers only use normalized paths), so both implementations agree
// without reimplementing the kernel's "stays beneath" bookkeeping in the walk.
bool HasDotDot(std::string_view rel) {
  return !ForEachComponent(rel, [](std::string_view c, bool) { return c != ".."; });
}

UniqueFd Openat2(int root_dirfd, std::string_view rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = NeedsMode(flags) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, root_dirfd, path.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    // EAGAIN: a concurrent rename made the kernel unsure the walk stayed beneath; retry.
    if (errno != EAGAIN || attempt == 8) return UniqueFd();
  }
}

}  // namespace

UniqueFd OpenBeneathByWalk(int root_dirfd, std::string_view rel, int flags, mode_t mode) {
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (HasDotDot(rel)) {
    errno = EXDEV;
    return UniqueFd();
  }
  UniqueFd dir;  // invalid while still at the root
  UniqueFd result;
  bool any = false;
  ForEachComponent(rel, [&](std::string_view comp, bool last) {
    any = true;
    int at = dir.valid() ? dir.get() : root_dirfd;
    std::string name(comp);
    if (last) {
      result.reset(::openat(at, name.c_str(), flags, NeedsMode(flags) ? mode : 0));
      return false;
    }
    UniqueFd next(::openat(at, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      // O_PATH|O_NOFOLLOW opens a symlink as itself, so O_DIRECTORY reports ENOTDIR; say ELOOP
      // like openat2 does, so callers see one behaviour.
      int err = errno;
      struct stat st{};
      if (err == ENOTDIR && ::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISLNK(st.st_mode))
        err = ELOOP;
      errno = err;
      return false;
    }
    dir = std::move(next);
    return true;
  });
  if (!any) result.reset(::openat(root_dirfd, ".", flags, NeedsMode(flags) ? mode : 0));
  return result;
}

UniqueFd OpenBeneath(int root_dirfd, std::string_view rel, int flags, mode_t mode) {
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (HasDotDot(rel)) {
    errno = EXDEV;
    return UniqueFd();
  }
  if (g_have_openat2.load(std::memory_order_relaxed)) {
    UniqueFd fd = Openat2(root_dirfd, rel, flags, mode);
    if (fd || errno != ENOSYS) return fd;
    g_have_openat2.store(false, std::memory_order_relaxed);
  }
  return OpenBeneathByWalk(root_dirfd, rel, flags, mode);
}

UniqueFd OpenSourcePath(int root_dirfd, std::string_view rel, int flags, bool follow_links) {
  if (!follow_links) return OpenBeneath(root_dirfd, rel, flags);
  if (HasDotDot(rel)) {
    errno = EXDEV;
    return UniqueFd();
  }
  std::string path = rel.empty() ? std::string(".") : std::string(rel);
  return UniqueFd(::openat(root_dirfd, path.c_str(), flags | O_CLOEXEC));
}

}  // namespace ktsync
