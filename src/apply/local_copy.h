// Local copy: source file (beneath a held source root fd) -> PendingFile in the destination,
// hashing exactly the bytes that landed, in one pass, then committing atomically.
//
// Data path (measured, see CopyAndHash): copy_file_range in 1 MiB chunks, each chunk then
// hashed by pread from the temp file while it is still hot in the page cache; plain
// read/hash/write through the same buffer when copy_file_range is unavailable.
// A source that changes while it is copied is read again (source_read.h says when, and
// what is kept in the end).
#pragma once

#include <optional>

#include "apply/apply_action.h"
#include "apply/dest_tree.h"
#include "apply/pending_file.h"
#include "manifest/entry.h"
#include "util/hash.h"
#include "util/problems.h"

namespace ktsync {

struct CopyOptions {
  ApplyOptions apply;
  bool skip_changing = false;  // source_read.h
  bool follow_links = false;   // -L: the source is opened through symlinks (OpenSourcePath)
};

struct CopyResult {
  bool ok = false;
  Hash128 hash;
  FinalInfo info;  // destination identity after commit, for the destination hash cache
  // The source as it was read, for the source hash cache; unset when it changed meanwhile.
  std::optional<FileIdentity> source;
};

// Records its own problems (Vanish for a vanished/changed source, Fail otherwise); never
// throws for a per-file failure. Uses a per-thread 1 MiB buffer: no allocation per file.
// When src_entry.hash is set (cache) and the file is as listed, the copied bytes must match
// it or nothing is kept. src_entry.dev/ino are checked only when ino != 0.
CopyResult CopyLocalFile(int src_root_fd, const Entry& src_entry, DestTree& dst, const CopyOptions& opts,
                         Problems& problems);

}  // namespace ktsync
