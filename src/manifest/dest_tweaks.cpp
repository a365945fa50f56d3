#include "manifest/dest_tweaks.h"

namespace ktsync {
namespace {

// Calls `f` with each '/'-separated component of `s` but the last, then returns the last.
template <class F>
std::string_view EachDirComponent(std::string_view s, F f) {
  for (size_t slash; (slash = s.find('/')) != std::string_view::npos; s.remove_prefix(slash + 1))
    f(s.substr(0, slash));
  return s;
}

}  // namespace

bool UnsafeSymlink(std::string_view target, std::string_view path) {
  if (target.empty() || target.front() == '/') return true;
  int depth = 0;  // directories between the root and the link; ".." in the link's path starts over
  std::string_view last = EachDirComponent(path, [&](std::string_view c) {
    if (c == "..") depth = 0;
    else if (!c.empty() && c != ".") ++depth;
  });
  if (last == "..") depth = 0;
  bool out = false;
  last = EachDirComponent(target, [&](std::string_view c) {
    if (c == "..") {
      if (--depth < 0) out = true;  // rsync: once outside, unsafe even if it comes back in
    } else if (!c.empty() && c != ".") {
      ++depth;
    }
  });
  if (last == "..") --depth;
  return out || depth < 0;
}

bool TweakEntry(Entry& e, const DestTweaks& t) {
  if (e.type == EntryType::Symlink) {
    if (t.safe_links && UnsafeSymlink(e.link_target(), e.path)) return false;
  } else if (!t.chmod.empty()) {
    e.mode = ApplyChmod(t.chmod, e.mode, e.IsDir());
  }
  if (t.uid) e.uid = *t.uid;
  if (t.gid) e.gid = *t.gid;
  return true;
}

}  // namespace ktsync
