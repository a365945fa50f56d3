// PendingFile: a destination file being written, unnamed (O_TMPFILE, anonymous_file.h) or
// under a temp name where unnamed files are unavailable.
//
// Contract: the bytes only ever appear under the final name in Commit(), after the content
// hash was checked and metadata applied: one linkat() of the unnamed file (or, when the name
// is taken, linkat to a temp name and renameat over it), or one renameat() of the temp. Any
// other ending (Abort, hash mismatch, exception, destructor) drops the file. Works for a
// local copy and for the network receiver alike: both write through fd() or Write().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "apply/metadata.h"
#include "manifest/entry.h"
#include "util/hash.h"
#include "util/unique_fd.h"

namespace ktsync {

// Identity of the committed file, stat'ed after the rename (rename changes ctime), so the
// caller can key the destination hash cache on it.
using FinalInfo = FileIdentity;

class PendingFile {
 public:
  PendingFile(PendingFile&& o) noexcept = default;
  PendingFile& operator=(PendingFile&& o) noexcept;
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  ~PendingFile() { Abort(); }

  int fd() const { return fd_.get(); }
  const std::string& rel_path() const { return rel_; }
  bool active() const { return parent_.valid(); }

  // Writes all of data (loops on short writes). Throws SysError naming the path (ENOSPC...).
  void Write(const void* data, size_t len);
  // Moves the write position `len` bytes on without writing: a hole (sparse files). Commit
  // then gives the file the entry's size, in case it ends in one.
  void Skip(uint64_t len);

  // expected != actual: the temp is removed and Error(Partial) thrown; the old file (if any)
  // is untouched. Otherwise: owner, mode, mtime on the fd; optional fdatasync; rename over
  // the final name (atomically replacing a file or symlink); optional fsync of the directory.
  FinalInfo Commit(const Hash128& expected, const Hash128& actual, const Entry& src_entry,
                   const MetaOptions& meta, bool fsync);

  // Removes the temp; no-op once committed or aborted. Never throws.
  void Abort() noexcept;

 private:
  friend class DestTree;
  PendingFile(UniqueFd fd, UniqueFd parent, std::string temp, std::string base, std::string rel)
      : fd_(std::move(fd)), parent_(std::move(parent)), temp_(std::move(temp)),
        base_(std::move(base)), rel_(std::move(rel)) {}

  int ModeWithoutPerms(const Entry& src_entry) const;
  bool unnamed() const { return temp_.empty(); }
  void LinkIntoPlace();

  UniqueFd fd_;
  UniqueFd parent_;  // our own dup: the tree's parent cache may evict its copy meanwhile
  std::string temp_;  // empty: the file is unnamed
  std::string base_;
  std::string rel_;
  bool holes_ = false;  // Skip was used: Commit sets the size (the file may end in a hole)
  bool bare_ = false;   // created with no extended attributes (ApplyMetaToFd)
};

}  // namespace ktsync
