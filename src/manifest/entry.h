// Entry: what a scan records about one tree entry; a tree is a stream of them.
//
// Entries come in *path order* (ComparePaths): a directory comes right before its contents,
// siblings sort by byte value of their names. Both sides produce this order, so a diff is a
// merge of two sorted streams. The first entry (ordinal 0) is always the root itself (path
// ""), so the root directory's mode and mtime are mirrored too. An entry's *ordinal* is its
// position in its stream; a peer names source entries by ordinal, never by path.
//
// Paths are relative, '/'-separated byte strings with no leading or trailing '/', no "."
// or ".." components and no NUL: any other byte (newline, invalid UTF-8) is kept as is.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/xattrs.h"
#include "util/hash.h"
#include "util/timestamp.h"

namespace ktsync {

enum class EntryType : uint8_t {
  File = 1,
  Dir = 2,
  Symlink = 3,
  Fifo = 4,
  Socket = 5,
  CharDev = 6,
  BlockDev = 7,
};

// Fields that only symlinks, devices and entries with extended attributes have. Kept out of
// line, so they cost every other entry 8 bytes in the queues and windows that hold entries
// in flight.
class RareFields {
 public:
  RareFields() = default;
  RareFields(const RareFields& o) : p_(o.p_ ? std::make_unique<Data>(*o.p_) : nullptr) {}
  RareFields(RareFields&&) noexcept = default;
  RareFields& operator=(const RareFields& o) { return *this = RareFields(o); }
  RareFields& operator=(RareFields&&) noexcept = default;

  const std::string& link_target() const {
    static const std::string kNone;
    return p_ ? p_->link_target : kNone;
  }
  uint64_t rdev() const { return p_ ? p_->rdev : 0; }
  const Xattrs& xattrs() const {
    static const Xattrs kNone;
    return p_ ? p_->xattrs : kNone;
  }
  void set_link_target(std::string t) { Get().link_target = std::move(t); }
  void set_rdev(uint64_t r) { Get().rdev = r; }
  void set_xattrs(Xattrs x) {
    if (!x.empty() || p_) Get().xattrs = std::move(x);
  }

 private:
  struct Data {
    std::string link_target;
    uint64_t rdev = 0;
    Xattrs xattrs;  // sorted by name (xattrs.h)
  };
  Data& Get() {
    if (!p_) p_ = std::make_unique<Data>();
    return *p_;
  }
  std::unique_ptr<Data> p_;
};

// Field order packs the struct (144 bytes, not 192): it is the per-entry memory cost.
struct Entry {
  std::string path;
  uint64_t size = 0;      // regular files; 0 otherwise
  Timestamp mtime;

  // Local identity: meaningful only on the host that scanned it. Used for hard links and
  // as the hash-cache key; never trusted from a peer.
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t ctime_ns = 0;    // Timestamp::KeyNs()

  std::optional<Hash128> hash;  // XXH3-128 of content, when known (cache hit or computed)

  // Ordinal (in the same stream) of the first entry that is the same inode, when this
  // regular file is a later hard link to it; -1 otherwise. Set only when hard links are
  // being preserved (-H). A file with nlink > 1 and no leader may lead later entries.
  int64_t link_leader = -1;

  RareFields rare;  // symlink target (byte for byte), device number, extended attributes

  uint32_t mode = 0;      // permission bits only (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;     // links to the inode (files with more than one may lead hard links)
  EntryType type = EntryType::File;

  // A directory on another filesystem, listed but not descended (-x): what DST has beneath
  // it is unknown territory, never deleted (as rsync -x --delete).
  bool contents_skipped = false;
  // A directory SRC took only some children of (--files-from: a listed entry's parent, file_list.h):
  // DST's other children are kept, never deleted, as rsync --files-from --delete keeps them.
  bool contents_partial = false;

  // DST entries only (never sent): excluded by a receiving-side filter rule, so kept when
  // SRC lacks them (rsync's "protect"). Perishable rules do not count inside a directory
  // being deleted, so a verdict may hold only outside one (UnlessParentDeleted) or only
  // inside one (WhenParentDeleted: a perishable include let it be deleted elsewhere).
  // Hidden: excluded on both sides for good, so no entry of the run at all; the scan still
  // names it (path only, a directory not descended) so that the planner knows the
  // directory holding it cannot be deleted (rsync's "cannot delete non-empty directory").
  enum class Protection : uint8_t { None, Always, UnlessParentDeleted, WhenParentDeleted, Hidden };
  Protection protection = Protection::None;

  bool IsDir() const { return type == EntryType::Dir; }
  bool IsFile() const { return type == EntryType::File; }
  const std::string& link_target() const { return rare.link_target(); }
  uint64_t rdev() const { return rare.rdev(); }
  const Xattrs& xattrs() const { return rare.xattrs(); }
  void set_link_target(std::string t) { rare.set_link_target(std::move(t)); }
  void set_rdev(uint64_t r) { rare.set_rdev(r); }
  void set_xattrs(Xattrs x) { rare.set_xattrs(std::move(x)); }
};

using Manifest = std::vector<Entry>;

// Roughly what an entry holds in memory: its fixed part, path, link target and attributes
// (names and values, plus a string pair's overhead each). What the budgets of entries held
// for a peer (files in flight, actions deferred) count, since a peer chooses those sizes.
size_t HeldBytes(const Entry& e);

// Consecutive entries of one stream: entries[k] has ordinal first + k.
struct EntryBatch {
  int64_t first = 0;
  std::vector<Entry> entries;
};

// Which file, in which state: what must be unchanged for a cached hash to hold, and what a
// committed file is stat'ed as so the destination cache can key on it.
struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // Timestamp::KeyNs()
  int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
  static FileIdentity Of(const Entry& e) { return {e.dev, e.ino, e.size, e.mtime.KeyNs(), e.ctime_ns}; }
};

// Total order used everywhere: compare component by component, bytewise. Returns <0, 0, >0.
// "a" < "a/b" < "a/c" < "a.b" < "b": a directory's subtree directly follows it.
int ComparePaths(std::string_view a, std::string_view b);

inline bool PathLess(std::string_view a, std::string_view b) { return ComparePaths(a, b) < 0; }

// True when `path` is a safe relative path as defined above (used on everything from a peer).
bool IsSafeRelativePath(std::string_view path);

// Parent directory of a relative path ("" for top-level entries) and its last component.
std::string_view ParentPath(std::string_view path);
std::string_view BaseName(std::string_view path);

// Depth in components ("" is 0, "a" is 1, "a/b" is 2).
int PathDepth(std::string_view path);

char TypeLetter(EntryType t);  // rsync itemize letter: f d L S D

}  // namespace ktsync
