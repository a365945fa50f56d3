// TreeSide: one local tree taking part in a mirror, as source or destination: its root fd,
// its lock (destination), its hash cache (SQLite store) and how it is scanned. The local
// mirror opens two; each end of a network run opens one. ScanStream (scan_stream.h) lists it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manifest/entry.h"
#include "manifest/file_list.h"
#include "manifest/filter.h"
#include "manifest/scan.h"
#include "store/hash_store.h"
#include "store/root_lock.h"
#include "util/problems.h"
#include "util/transfer_meter.h"
#include "util/unique_fd.h"

namespace ktsync {

struct TreeConfig {
  std::string state_dir;  // "" = default location
  bool one_file_system = true;
  bool hard_links = false;
  bool copy_links = false;    // -L: followed where this tree is SRC, never where it is DST
  uint8_t xattr_classes = 0;  // extended attributes read with each entry (xattrs.h)
  bool fake_super = false;    // entries as their stored metadata describes them (fake_super.h)
  std::vector<FilterRule> filters;
  bool delete_excluded = false;  // rules naming no side apply to the sending side only
  // --files-from (file_list.h): what a source's scan takes; a destination ignores it.
  std::shared_ptr<const FileList> file_list;
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

  // How to list this tree (the filter is built from the config and lives here).
  ScanOptions MakeScanOptions() const;
  // Fills Entry::hash of these entries from the cache, or by reading the file (then cached).
  void FillHashes(const std::vector<Entry*>& entries, Problems& problems);
  // Where this tree's scan and hash fills count their progress (the CLI's display), if anywhere.
  void set_meter(TransferMeter* meter) { meter_ = meter; }
  TransferMeter* meter() const { return meter_; }
  void CommitStore();

  // False for a dry run's DST that does not exist yet: it is listed as an empty root.
  bool exists() const { return root_.valid(); }
  // The root holds at least one entry (filters aside); true when it cannot be read.
  bool HasEntries() const;
  // Whether a mirror into this very root directory completed before, and recording that one
  // did (HashStore::MirroredInto; false / nothing for a DST that does not exist).
  bool MirroredBefore();
  void RecordMirrored();
  int root_fd() const { return root_.get(); }
  const std::string& abs_path() const { return abs_path_; }
  const std::string& name() const { return name_; }
  HashStore& store() { return *store_; }
  const TreeConfig& config() const { return cfg_; }
  // -L and this tree is SRC: its symlinks are listed and read as their referents.
  bool follows_links() const { return follow_links_; }

 private:
  TreeSide() = default;
  // The filter as this tree's side applies it; read_parent_filters: dir-merge rules naming a
  // parent directory read the files above the root (local trees; a daemon's never);
  // filter_root: the path '/' rules see (default: the tree's absolute path).
  void BuildFilter(uint16_t side, bool read_parent_filters, std::optional<std::string> filter_root = {});
  void OpenStore(WarnFn warn);

  std::string name_;      // as the user wrote it, for messages
  std::string abs_path_;  // canonical absolute path (store key)
  TreeConfig cfg_;
  UniqueFd root_;
  RootLock lock_;
  std::optional<HashStore> store_;
  Filter filter_;
  uint16_t filter_side_ = kRuleSender;
  bool read_parent_filters_ = false;
  bool follow_links_ = false;
  TransferMeter* meter_ = nullptr;
};

}  // namespace ktsync
