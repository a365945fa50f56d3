// Reading a source file that may change under us (logs, databases, anything written while a
// backup runs). Pure decisions over stat values; the readers (local copy, network sender)
// do the I/O and call these at the same points, so both behave alike.
//
// A read attempt: fstat (`before`), read `before.size` bytes, fstat (`after`).
//  - Before reading, JudgeOpen compares the open file with its listing: another inode
//    (replaced since the scan) is not copied; a changed size or mtime is read as it is now
//    and committed with the size and mtime it had when read ("restated").
//  - After reading, JudgeRead: the attempt is consistent when every byte came and size,
//    mtime and ctime did not move. An inconsistent one is retried, kMaxReadAttempts in all.
//    After the last, a full-length read is kept anyway (each byte is what the file held at
//    some instant while read, as rsync would copy it) and reported as changed (exit 24),
//    with the mtime from before the read, so the next run sees the file differ and
//    replaces it; a short read (the file shrank) is dropped.
//  - skip_changing (--skip-changing-files): a file that changed since the scan or while it
//    was read is not copied at all, no retry (DST keeps its previous version).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>

#include "manifest/entry.h"
#include "util/timestamp.h"

namespace ktsync {

inline constexpr int kMaxReadAttempts = 4;

// What fstat says about an open source file, reduced to what the judgements use.
struct SourceState {
  bool regular = false;
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  Timestamp mtime;
  Timestamp ctime;
  bool operator==(const SourceState&) const = default;
  static SourceState Of(const struct stat& st);
  FileIdentity Identity() const { return {dev, ino, size, mtime.KeyNs(), ctime.KeyNs()}; }
};

enum class OpenVerdict {
  AsListed,  // size and mtime as listed
  Restated,  // same inode, new size or mtime: read it as it is now
  Replaced,  // not the listed inode, or no longer a regular file: not copied
  Changed,   // changed since the scan, and skip_changing: not copied
};
// `listed.ino == 0` (an entry without an inode) skips the inode check.
OpenVerdict JudgeOpen(const Entry& listed, const SourceState& now, bool skip_changing);

enum class ReadVerdict {
  Consistent,   // commit
  Retry,        // drop what was read, read again
  KeptChanged,  // commit, report as changed
  Dropped,      // not copied, report as changed
};
// `attempt` counts from 1.
ReadVerdict JudgeRead(const SourceState& before, const SourceState& after, uint64_t bytes_read, int attempt,
                      bool skip_changing);

// Fewer blocks than bytes: the file has holes to find (SEEK_DATA/SEEK_HOLE) and keep.
inline bool HasHoles(const struct stat& st) {
  return static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size);
}

// The problems reported for a KeptChanged read, and for a Replaced or Changed open.
std::string KeptChangedMessage(const std::string& path);
std::string NotCopiedMessage(const std::string& path, OpenVerdict v);

// The entry to commit a read with: the listing's, or with the size and mtime it was read at.
Entry AsRead(const Entry& listed, const SourceState& before);

}  // namespace ktsync
