#include "manifest/entry.h"

#include <algorithm>
#include <cstring>

namespace ktsync {

// Every entry in flight (queues, the credit window: up to ~100k at once) costs this much.
// 144 since mtimes cover the whole time_t range (seconds + nanoseconds, 8 bytes more).
static_assert(sizeof(Entry) <= 144, "Entry grew: it is the per-entry memory cost of every entry in flight");

int ComparePaths(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    // '/' ends a component, so it sorts before every other byte.
    unsigned char ca = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
    unsigned char cb = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
    return ca < cb ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

bool IsSafeRelativePath(std::string_view path) {
  if (path.empty()) return true;  // the root itself
  if (path.front() == '/' || path.back() == '/') return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    if (comp.find('\0') != std::string_view::npos) return false;
    start = end + 1;
  }
  return true;
}

std::string_view ParentPath(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

int PathDepth(std::string_view path) {
  if (path.empty()) return 0;
  return 1 + static_cast<int>(std::count(path.begin(), path.end(), '/'));
}

char TypeLetter(EntryType t) {
  switch (t) {
    case EntryType::File: return 'f';
    case EntryType::Dir: return 'd';
    case EntryType::Symlink: return 'L';
    case EntryType::CharDev:
    case EntryType::BlockDev: return 'D';
    case EntryType::Fifo:
    case EntryType::Socket: return 'S';
  }
  return '?';
}

size_t HeldBytes(const Entry& e) {
  size_t n = sizeof(Entry) + e.path.size();
  if (e.type == EntryType::Symlink) n += e.link_target().size();
  return n + XattrBytes(e.xattrs()) + e.xattrs().size() * 2 * sizeof(std::string);
}

}  // namespace ktsync
