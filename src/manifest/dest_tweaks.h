// DestTweaks: what DST gets instead of SRC's own (--chmod, --chown) and the SRC entries it
// leaves alone (--safe-links). Applied where DST is planned, to each SRC entry before the
// daemon's WriteLimits screen it (so a rule cannot grant what the daemon refuses) and
// before it is planned (so a dry run shows the result). Pure: names are looked up by the
// caller.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "manifest/chmod.h"
#include "manifest/entry.h"

namespace ktsync {

struct DestTweaks {
  ChmodRules chmod;
  std::optional<uint32_t> uid, gid;  // --chown
  bool safe_links = false;
  bool any() const { return !chmod.empty() || uid || gid || safe_links; }
};

// False when `e` is to be left alone (an unsafe symlink under --safe-links): nothing is
// created, changed or deleted at its path. Otherwise changes `e` as the tweaks say.
bool TweakEntry(Entry& e, const DestTweaks& t);

// rsync's unsafe_symlink(): true when `target`, read from a symlink at `path` (relative to
// the tree's root), is absolute, empty, or climbs with ".." above the root at any point.
bool UnsafeSymlink(std::string_view target, std::string_view path);

}  // namespace ktsync
