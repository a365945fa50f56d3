// ScanTree: lists one local tree in path order, root first, handing each entry to a sink as
// soon as it is stat'ed (the mirror streams them on while the walk goes on).
//
// Contract:
// * Symlinks are not followed: recorded as Symlink with their target. Every directory is
//   opened relative to its parent's fd with O_NOFOLLOW, so a directory swapped for a
//   symlink mid-scan cannot lead the scan outside the tree.
// * Except with follow_links (rsync's -L, for SRC only): a symlink is listed as its
//   referent, wherever the chain of links leads (out of the tree too): its type, metadata,
//   xattrs and dev/ino (so -H links what shares a referent, as rsync -L -H does), and a
//   directory is walked. A file reached through links may have more names than links, so
//   a hard-link leader's nlink is kLinksUnbounded: the planner waits for its names to the end.
//   A symlink without a referent is a Failed problem ("symlink has no referent", as rsync
//   says) and is not listed. A directory that is one of its own ancestors on the walk
//   (LoopAncestor) is a Failed problem and not listed: rsync descends until ELOOP or
//   PATH_MAX instead, listing the same files again at each level.
// * Each directory's names are sorted bytewise and the walk is depth-first, so output is in
//   ComparePaths order without a global sort; at most one name list is held per depth level.
// * Metadata only: Entry::hash is left empty (content hashing is lazy and cached elsewhere).
// * Filtered-out entries are not listed (on the receiving side, where they stay for good,
//   each is named by a path-only Entry::Protection::Hidden entry, not counted in the
//   summary); a filtered-out directory is not descended. A
//   directory's dir-merge files are read as it is entered; one that cannot be read or
//   parsed is a Failed problem and the directory is listed with contents_skipped (nothing
//   its rules would have excluded goes out, and DST's copy of it is left alone); the
//   root's fails the scan.
// * Names starting with temp_prefix are ktsync's own leftovers: never listed, optionally
//   collected (at most kMaxStaleTemps) so the caller can remove them.
// * One unreadable or vanished entry goes to Problems (Vanished for ENOENT, Failed
//   otherwise) and the scan goes on. Only a root that cannot be read throws
//   Error(ExitCode::SelectFiles).
// * Each open directory along the current path holds one fd: very deep trees need a
//   matching RLIMIT_NOFILE (EMFILE is reported per directory, not thrown).
// * With a file list (--files-from, file_list.h) only what it picks is listed, the filter
//   deciding within that: a directory taken alone is listed with contents_skipped, one taken
//   for some entries beneath it with contents_partial. A listed path the walk did not meet
//   is a Failed problem ("stat PATH: No such file or directory"), as rsync's link_stat one.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manifest/entry.h"
#include "manifest/file_list.h"
#include "manifest/filter.h"
#include "util/problems.h"

namespace ktsync {

struct ScanOptions {
  const Filter* filter = nullptr;   // nullptr or empty: everything is included
  const FileList* file_list = nullptr;  // --files-from (SRC only); nullptr: the whole tree
  // Which rules apply (filter.h). The sending side leaves out what they exclude; the
  // receiving side (DST) marks it Entry::protection, and leaves out only what both sides
  // exclude for good (SRC lists none of it, and it is kept).
  uint16_t filter_side = kRuleSender;
  // The tree's absolute path: a dir-merge rule naming a parent directory ("/.rsync-filter")
  // also reads the files from there down to the root's parent. "" reads none above the root.
  std::string abs_root;
  bool one_file_system = true;      // like rsync -x: mount points listed, not descended
  bool hard_links = false;          // fill Entry::link_leader for regular files
  bool follow_links = false;        // -L: symlinks listed as their referents (see the contract)
  // Extended attributes of these classes (xattrs.h) are read into each entry; 0 = none.
  // An entry whose attributes cannot be read, or exceed the limits, is reported and skipped.
  uint8_t xattr_classes = 0;
  // Entries are listed as their user.ktsync.stat attribute describes them (fake_super.h).
  bool fake_super = false;
  // (dev, ino) never listed nor descended, e.g. ktsync's own state dir inside the tree.
  std::vector<std::pair<uint64_t, uint64_t>> skip_inodes;
  std::string_view temp_prefix = ".ktsync-tmp.";  // empty: no name is treated as a temp
  bool collect_temps = false;       // put temp entries' paths in ScanSummary::stale_temps
  // A second thread warms the inode cache from the far end of the tree (stat_ahead.h):
  // a cold scan takes about a quarter less. Off where nothing reads the disk (tests).
  bool stat_ahead = false;
  // When it turns true the walk stops at the next entry and returns what it has: the
  // caller no longer wants the result (it failed elsewhere first).
  const std::atomic<bool>* cancel = nullptr;
};

// Receives the entries in path order; link_leader is an ordinal (0 is the root) counting
// every entry the sink received, Hidden markers included.
class ScanSink {
 public:
  virtual ~ScanSink() = default;
  virtual void Add(Entry e) = 0;
};

struct ScanSummary {
  std::vector<std::string> stale_temps; // relative paths, in path order
  uint64_t entries = 0;                 // everything listed, the root included
  uint64_t dirs = 0;                    // directories listed, the root included
  uint64_t files = 0;                   // regular files listed
  uint64_t bytes = 0;                   // sum of their sizes
  // With one_file_system: directories on another filesystem, listed but not descended.
  uint64_t mounts_skipped = 0;
  std::vector<std::string> first_mounts_skipped;  // the first kMountsNamed of them, in path order
};

inline constexpr size_t kMountsNamed = 3;

// The one warning a run gives about the mount points its scan of `tree` ("SRC") did not
// descend (rsync -x is ktsync's default, and their contents are silently absent
// otherwise), or "" when there were none.
std::string SkippedMountsWarning(const ScanSummary& summary, std::string_view tree);

inline constexpr uint32_t kLinksUnbounded = UINT32_MAX;

// An inode, as the loop check and -H know it.
struct InodeId {
  uint64_t dev = 0, ino = 0;
  bool operator==(const InodeId&) const = default;
};

// With follow_links: `walk_path` holds the directories from the root down to the parent of
// `dir`. Returns the depth (0 = the root) at which `dir` is already on it, i.e. entering
// it would walk the same directories again and again; nullopt when it is not.
std::optional<size_t> LoopAncestor(std::span<const InodeId> walk_path, InodeId dir);

// Temps beyond this many are left for a later run: the list is held in memory.
inline constexpr size_t kMaxStaleTemps = 10000;

// root_dirfd: a directory fd (O_PATH is enough); it is not read from or moved, the scan
// opens its own handle. `root_name` only labels error messages (e.g. the SRC argument).
ScanSummary ScanTree(int root_dirfd, const ScanOptions& opts, Problems& problems, ScanSink& sink,
                     std::string_view root_name = ".");

// The whole tree in one vector (tests, and tools that want it all).
struct ScanResult {
  Manifest entries;  // path order; entries[0] is the root (path "")
  ScanSummary summary;
};
ScanResult ScanTree(int root_dirfd, const ScanOptions& opts, Problems& problems, std::string_view root_name = ".");

}  // namespace ktsync
