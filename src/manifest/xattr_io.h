// XattrTarget: one inode as the *xattr syscalls reach it, without walking a path from the
// cwd: an fd open for I/O (f*xattr), an O_PATH fd (through its /proc/self/fd magic link,
// which names exactly that inode), or a name beneath a held directory fd whose last step is
// never followed (l*xattr on /proc/self/fd/N/name: symlinks themselves, devices, fifos).
//
// Calls return what the syscalls return (-1 and errno on failure).
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <string>

#include "manifest/xattrs.h"

namespace ktsync {

class XattrTarget {
 public:
  static XattrTarget Fd(int fd);
  static XattrTarget PathFd(int o_path_fd);
  static XattrTarget Beneath(int dirfd, const char* name);

  ssize_t List(char* buf, size_t size) const;
  ssize_t Get(const char* name, void* buf, size_t size) const;
  int Set(const char* name, const void* value, size_t size) const;
  int Remove(const char* name) const;

 private:
  int fd_ = -1;        // f*xattr when >= 0
  std::string path_;   // otherwise this path
  bool follow_ = false;
};

// The errnos of a filesystem (or namespace) without extended attributes.
inline bool XattrsUnsupported(int err) { return err == ENOTSUP || err == EOPNOTSUPP; }

// The extended attributes of `classes` that `t` has, sorted by name. Returns 0, or an errno:
// ENOTSUP when the filesystem has none at all (then `out` is empty and that is no error),
// E2BIG when they exceed the limits in xattrs.h, anything else the syscalls reported.
int ReadXattrs(const XattrTarget& t, uint8_t classes, Xattrs* out);

}  // namespace ktsync
