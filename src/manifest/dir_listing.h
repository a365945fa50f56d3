// DirListing: one directory's names, read with getdents64 and sorted bytewise (the order
// of a scan: a directory's names in path order). The bytes sit in one buffer,
// NUL-terminated for the *at() syscalls, so a directory of n names costs two allocations,
// not n; a listing is reused for every directory at its depth.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

// How a tree walker opens a directory: never through a symlink, never as a terminal.
inline constexpr int kOpenDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;

struct DirListing {
  struct Name {
    uint32_t off;
    uint32_t len;
    uint8_t dtype;  // DT_* from getdents (DT_UNKNOWN on some filesystems)
  };
  std::string buf;
  std::vector<Name> names;

  std::string_view Get(const Name& n) const { return {buf.data() + n.off, n.len}; }
  const char* CStr(const Name& n) const { return buf.data() + n.off; }

  // Replaces the contents with the names in `dirfd` ("." and ".." left out), sorted.
  // `dents` is getdents' scratch buffer (not resized). Returns 0, or the errno of a failed
  // getdents; the names read before it are kept.
  int Read(int dirfd, std::vector<char>& dents);
};

}  // namespace ktsync
