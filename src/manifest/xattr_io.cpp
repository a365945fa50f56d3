#include "manifest/xattr_io.h"

#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace ktsync {

XattrTarget XattrTarget::Fd(int fd) {
  XattrTarget t;
  t.fd_ = fd;
  return t;
}

XattrTarget XattrTarget::PathFd(int o_path_fd) {
  XattrTarget t;
  t.path_ = "/proc/self/fd/" + std::to_string(o_path_fd);
  t.follow_ = true;  // the magic link itself is what resolves to the inode
  return t;
}

XattrTarget XattrTarget::Beneath(int dirfd, const char* name) {
  XattrTarget t;
  t.path_ = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
  return t;
}

ssize_t XattrTarget::List(char* buf, size_t size) const {
  if (fd_ >= 0) return flistxattr(fd_, buf, size);
  return follow_ ? listxattr(path_.c_str(), buf, size) : llistxattr(path_.c_str(), buf, size);
}

ssize_t XattrTarget::Get(const char* name, void* buf, size_t size) const {
  if (fd_ >= 0) return fgetxattr(fd_, name, buf, size);
  return follow_ ? getxattr(path_.c_str(), name, buf, size) : lgetxattr(path_.c_str(), name, buf, size);
}

int XattrTarget::Set(const char* name, const void* value, size_t size) const {
  if (fd_ >= 0) return fsetxattr(fd_, name, value, size, 0);
  return follow_ ? setxattr(path_.c_str(), name, value, size, 0) : lsetxattr(path_.c_str(), name, value, size, 0);
}

int XattrTarget::Remove(const char* name) const {
  if (fd_ >= 0) return fremovexattr(fd_, name);
  return follow_ ? removexattr(path_.c_str(), name) : lremovexattr(path_.c_str(), name);
}

namespace {

// Calls `read(buf, size)` with a buffer that grows until the result fits (the size can
// change between the size query and the read). Returns the length, or -1 with errno.
template <typename ReadFn>
ssize_t ReadGrowing(std::vector<char>& buf, ReadFn read) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    ssize_t n = read(buf.data(), buf.size());
    if (n >= 0 || errno != ERANGE) return n;
    ssize_t need = read(nullptr, 0);
    if (need < 0) return -1;
    buf.resize(std::max(buf.size() * 2, static_cast<size_t>(need)));
  }
  errno = ERANGE;
  return -1;
}

}  // namespace

int ReadXattrs(const XattrTarget& t, uint8_t classes, Xattrs* out) {
  out->clear();
  // Most entries have no xattrs: one list call into a reused buffer is all they cost.
  thread_local std::vector<char> names(4096), value(4096);
  size_t bytes = 0;
  ssize_t len = ReadGrowing(names, [&](char* b, size_t n) { return t.List(b, n); });
  if (len < 0) return XattrsUnsupported(errno) ? ENOTSUP : errno;
  for (size_t pos = 0; pos < static_cast<size_t>(len);) {
    const char* name = names.data() + pos;
    size_t name_len = strnlen(name, static_cast<size_t>(len) - pos);
    pos += name_len + 1;
    if (!(XattrClassOf({name, name_len}) & classes)) continue;
    ssize_t v = ReadGrowing(value, [&](char* b, size_t n) { return t.Get(name, b, n); });
    if (v < 0) {
      if (errno == ENODATA) continue;  // removed since the list
      return XattrsUnsupported(errno) ? ENOTSUP : errno;
    }
    out->push_back({std::string(name, name_len), std::string(value.data(), static_cast<size_t>(v))});
    bytes += name_len + static_cast<size_t>(v);
    if (out->size() > kMaxXattrCount || bytes > kMaxXattrBytes) return E2BIG;
  }
  std::sort(out->begin(), out->end(), [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return 0;
}

}  // namespace ktsync
