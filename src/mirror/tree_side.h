// TreeSide: one local tree taking part in a mirror, as source or destination — its root fd,
// its hash cache (SQLite store) and its manifest. The local mirror uses two; a remote
// `ktsync serve` uses one and talks to the client about the other.
//
// Order of use: Open* -> Scan -> FillHashes (only the indices the diff asks for) -> ...
// -> CommitStore.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "manifest/entry.h"
#include "manifest/filter.h"
#include "store/hash_store.h"
#include "store/root_lock.h"
#include "util/problems.h"
#include "util/unique_fd.h"

namespace ktsync {

struct TreeConfig {
  std::string state_dir;  // "" = default location
  bool one_file_system = true;
  bool hard_links = false;
  std::vector<FilterRule> filters;
};

class TreeSide {
 public:
  using WarnFn = std::function<void(const std::string&)>;

  // SRC must exist and be a directory (exit 3 otherwise).
  static TreeSide OpenSource(const std::string& path, const TreeConfig& cfg, WarnFn warn);
  // DST is created (last component only) when missing, unless `dry_run`, in which case it is
  // treated as empty. A DST that is not a directory is refused (exit 3). A real run takes
  // the destination lock (exit 43 when another run holds it).
  static TreeSide OpenDest(const std::string& path, const TreeConfig& cfg, bool dry_run, WarnFn warn);
  // Opens `rel` beneath `root` without following symlinks (daemon: client paths stay inside
  // --root). `rel` "" is the root itself.
  static TreeSide OpenBeneath(const std::string& root, const std::string& rel, bool as_dest,
                              bool dry_run, const TreeConfig& cfg, WarnFn warn);

  // `cancel`: see ScanOptions::cancel (the manifest is then partial and must not be used).
  void Scan(Problems& problems, const std::atomic<bool>* cancel = nullptr);
  // Fills Entry::hash for `indices` from the cache, or by reading the file (then cached).
  void FillHashes(const std::vector<int64_t>& indices, Problems& problems);
  void CommitStore();

  // Temp files an interrupted run left behind (found by Scan; DST removes them).
  const std::vector<std::string>& stale_temps() const { return stale_temps_; }

  bool exists() const { return root_.valid(); }
  int root_fd() const { return root_.get(); }
  const std::string& abs_path() const { return abs_path_; }
  const std::string& name() const { return name_; }
  Manifest& manifest() { return manifest_; }
  const Manifest& manifest() const { return manifest_; }
  HashStore& store() { return *store_; }
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  TreeSide() = default;
  void OpenStore(WarnFn warn);

  std::string name_;      // as the user wrote it, for messages
  std::string abs_path_;  // canonical absolute path (store key)
  TreeConfig cfg_;
  UniqueFd root_;
  RootLock lock_;
  std::optional<HashStore> store_;
  Manifest manifest_;
  std::vector<std::string> stale_temps_;
  uint64_t file_bytes_ = 0;
};

}  // namespace ktsync
