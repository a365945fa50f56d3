// DestTree: the only writer of the destination tree.
//
// Security contract (a hostile peer chooses the paths; a local attacker may swap directories
// for symlinks while we run): every mkdir, create, rename, link, unlink and metadata change is
// an *at() call on a directory fd opened beneath the held root with no symlink resolution at
// all (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or an O_NOFOLLOW walk on old kernels),
// using only the final path component. Nothing is ever resolved from the cwd. A path failing
// IsSafeRelativePath is refused before any syscall.
//
// Every operation throws (Error/SysError naming the destination-relative path); the plan
// executor turns that into a per-entry Problem. Not thread-safe: give each thread its own
// Clone() (they share the root through a dup'ed fd).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "apply/metadata.h"
#include "apply/pending_file.h"
#include "manifest/entry.h"
#include "util/unique_fd.h"

namespace ktsync {

class DestTree {
 public:
  explicit DestTree(UniqueFd root);
  // Opens the destination root itself (the one path the user typed; may be a symlink).
  static DestTree Open(const std::string& dir);
  DestTree Clone() const;

  int root_fd() const { return root_.get(); }

  // mkdir mode 0700 so we can still fill a dir whose final mode is 0555; SetMeta (DirMeta,
  // deepest first) applies the real mode. An existing directory is fine.
  void MkDir(const Entry& e);
  // fsync of the directory that holds `rel`, so an entry just made there survives a crash
  // (--fsync: a file fsync'ed in a new directory is lost with the directory otherwise).
  void SyncParent(std::string_view rel);
  // Created under a temp name, owner/mtime applied, then renamed over the final name.
  void MakeSymlink(const Entry& e, const MetaOptions& meta = {});
  // fifo, socket, char or block device; temp name + rename like MakeSymlink.
  void MakeSpecial(const Entry& e, const MetaOptions& meta = {});
  // e.path becomes another name of leader_rel's inode (linkat to a temp, rename over).
  void HardLink(const Entry& e, std::string_view leader_rel);
  // unlink, or rmdir for a directory (callers remove a subtree deepest first). Already gone
  // is success.
  void Remove(const Entry& dst_entry);
  // Unlinks a file an earlier run left, and gives its directory back the times it had: the
  // directory's own metadata may be final already (set while this run went on).
  void RemoveLeftover(std::string_view rel);
  // Owner, mode, mtime for a dir, file, special (on an fd) or symlink (AT_SYMLINK_NOFOLLOW).
  // `created`: the entry is new in this run, so without --perms it gets src mode & ~umask.
  void SetMeta(const Entry& src_entry, const MetaOptions& meta, bool created = false);
  // New file (O_RDWR, so a copier can hash back what landed) in the target's directory:
  // unnamed with the entry's permission bits where possible, else under a 0600 temp name;
  // see PendingFile.
  PendingFile CreateFile(const Entry& src_entry);

 private:
  struct Located {
    int parent;
    std::string base;
  };
  struct CachedDir {
    std::string rel;
    UniqueFd fd;
    uint64_t last_use = 0;
    bool writable = false;  // MakeWritable done
    int8_t xattrs_for_new = -1;  // NewFilesMayGetXattrs, once known
  };
  // Entries arrive in path order, so consecutive ones share parents; >= 2 slots also lets
  // HardLink hold the leader's and the target's parent at once.
  static constexpr int kCacheSlots = 4;

  // Locate: the entry's parent fd and name. LocateForChange: the same, when the entry is to
  // be created, replaced or removed (see MakeWritable).
  Located Locate(std::string_view rel, bool for_change = false);
  Located LocateForChange(std::string_view rel) { return Locate(rel, true); }
  int ParentFd(std::string_view parent_rel, std::string_view for_rel, bool for_change = false);
  void ForgetSubtree(std::string_view rel);
  template <typename MakeFn>
  std::string MakeTemp(const char* op, std::string_view rel, MakeFn&& make);
  UniqueFd OpenForMeta(const Located& at, const Entry& e);
  // NewFilesMayGetXattrs of a parent Locate returned, looked up once per cached directory.
  bool NewFilesMayGetXattrsIn(int parent_fd);
  void ForgetXattrsForNew(std::string_view dir_rel);
  void RenameIntoPlace(const std::string& temp, const Located& at, std::string_view rel);

  UniqueFd root_;
  bool root_writable_ = false;  // MakeWritable done on the root
  int8_t root_xattrs_for_new_ = -1;
  CachedDir cache_[kCacheSlots];
  uint64_t use_clock_ = 0;
};

}  // namespace ktsync
