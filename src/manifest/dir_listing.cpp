#include "manifest/dir_listing.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ktsync {

int DirListing::Read(int dirfd, std::vector<char>& dents) {
  buf.clear();
  names.clear();
  int err = 0;
  for (;;) {
    ssize_t n = ::getdents64(dirfd, dents.data(), dents.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    for (ssize_t pos = 0; pos < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(dents.data() + pos);
      pos += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      size_t len = std::strlen(name);
      names.push_back({static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(len), d->d_type});
      buf.append(name, len + 1);
    }
  }
  std::sort(names.begin(), names.end(), [this](const Name& a, const Name& b) {
    return Get(a) < Get(b);  // char_traits<char> compares as unsigned: bytewise
  });
  return err;
}

}  // namespace ktsync
