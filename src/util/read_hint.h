// Read-ahead hint for a file about to be read start to end.
#pragma once

#include <fcntl.h>

#include <cstdint>

namespace ktsync {

// POSIX_FADV_SEQUENTIAL doubles the read-ahead window, which only matters for a file longer
// than the default window (128 KiB); for the small files of a big tree it was one wasted
// syscall each (100,000 per 100,000-file push).
inline void AdviseSequentialRead(int fd, uint64_t size) {
  if (size > (uint64_t{128} << 10)) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

}  // namespace ktsync
