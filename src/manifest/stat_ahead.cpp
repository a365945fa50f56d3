#include "manifest/stat_ahead.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include "manifest/dir_listing.h"
#include "manifest/entry.h"

namespace ktsync {
StatAhead::StatAhead(int root_fd, dev_t root_dev, const Filter* filter)
    : root_(::openat(root_fd, ".", kOpenDirFlags)),  // not a dup: getdents needs its own offset
      root_dev_(root_dev),
      filter_(filter && !filter->empty() ? filter : nullptr),
      thread_([this] { Run(); }) {}

StatAhead::~StatAhead() {
  stop_ = true;
  thread_.join();
}

void StatAhead::ScanEntered(std::string_view rel) {
  std::lock_guard lock(mu_);
  scan_at_.assign(rel);
}

// Best effort throughout: anything the warmer cannot read, the scan reports itself.
void StatAhead::Run() {
  try {
    if (!root_) return;
    std::string rel;
    Warm(root_.get(), rel, 0);
  } catch (...) {
  }
}

bool StatAhead::ScanHasReached(std::string_view rel) {
  std::lock_guard lock(mu_);
  return ComparePaths(scan_at_, rel) >= 0;
}

bool StatAhead::LooksCached() {
  if (stats_ != kProbeStats) return false;
  if (stat_ns_ / kProbeStats < kCachedStatNs) stop_ = true;
  return stop_;
}

// A directory's own entries are stat'ed first to last, the order their inodes usually sit
// in (ext4 reads inode tables ahead, forward); its subdirectories are then visited last
// to first.
bool StatAhead::Warm(int fd, std::string& rel, int depth) {
  using Clock = std::chrono::steady_clock;
  const size_t len = rel.size();
  auto child = [&](std::string_view name) {
    rel.resize(len);
    if (len) rel += '/';
    rel += name;
  };
  DirListing list;
  list.Read(fd, dents_);
  std::vector<uint32_t> subdirs;  // indices into list.names
  for (uint32_t i = 0; i < list.names.size(); ++i) {
    const DirListing::Name& n = list.names[i];
    if (stop_) return false;
    child(list.Get(n));
    bool known_type = n.dtype != DT_UNKNOWN;
    if (filter_ && known_type && filter_->Excluded(rel, n.dtype == DT_DIR)) continue;
    struct stat st;
    auto t0 = stats_ < kProbeStats ? Clock::now() : Clock::time_point{};
    int rc = ::fstatat(fd, list.CStr(n), &st, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT);
    if (stats_ < kProbeStats) {
      stat_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
      ++stats_;
      if (LooksCached()) return false;
    }
    if (rc != 0 || !S_ISDIR(st.st_mode) || st.st_dev != root_dev_ || depth + 1 > kMaxDepth) continue;
    if (filter_ && !known_type && filter_->Excluded(rel, true)) continue;
    subdirs.push_back(i);
  }
  for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) {
    const DirListing::Name& n = list.names[*it];
    child(list.Get(n));
    // The scan goes forward, this goes backward: once it is here, the rest is scanned.
    if (stop_ || ScanHasReached(rel)) return false;
    UniqueFd sub(::openat(fd, list.CStr(n), kOpenDirFlags));
    if (sub && !Warm(sub.get(), rel, depth + 1)) return false;
  }
  rel.resize(len);
  return true;
}

}  // namespace ktsync
