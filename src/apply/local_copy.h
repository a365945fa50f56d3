// Local copy: source file (beneath a held source root fd) -> PendingFile in the destination,
// hashing exactly the bytes that landed, in one pass, then committing atomically.
//
// Data path (measured, see CopyAndHash): copy_file_range in 1 MiB chunks, each chunk then
// hashed by pread from the temp file while it is still hot in the page cache; plain
// read/hash/write through the same buffer when copy_file_range is unavailable.
// The source is checked against its manifest entry before (dev/ino/size/mtime) and after
// (size/mtime/ctime) the copy; any change is a Vanished problem and nothing is kept.
#pragma once

#include <functional>

#include "apply/apply_plan.h"
#include "apply/dest_tree.h"
#include "apply/pending_file.h"
#include "manifest/entry.h"
#include "util/hash.h"
#include "util/problems.h"

namespace ktsync {

struct CopyResult {
  bool ok = false;
  Hash128 hash;
  FinalInfo info;  // destination identity after commit, for the destination hash cache
};

// Records its own problems (Vanish for a vanished/changed source, Fail otherwise); never
// throws for a per-file failure. Uses a per-thread 1 MiB buffer: no allocation per file.
// When src_entry.hash is set (cache), the copied bytes must match it or nothing is kept.
// src_entry.dev/ino are checked only when ino != 0.
CopyResult CopyLocalFile(int src_root_fd, const Entry& src_entry, DestTree& dst,
                         const MetaOptions& meta, bool fsync, Problems& problems);

// FileSupplier for the local mirror: CopyLocalFile per SendFile, counting into counters.
class LocalCopySupplier : public FileSupplier {
 public:
  using OnCopied = std::function<void(const Entry& src_entry, const CopyResult& result)>;
  LocalCopySupplier(int src_root_fd, DestTree& dst, const ApplyOptions& opts, Problems& problems,
                    ApplyCounters& counters, OnCopied on_copied = {})
      : src_root_fd_(src_root_fd), dst_(dst), opts_(opts), problems_(problems),
        counters_(counters), on_copied_(std::move(on_copied)) {}

  void Supply(const Action& action, const Entry& src_entry) override;

 private:
  int src_root_fd_;
  DestTree& dst_;
  const ApplyOptions& opts_;
  Problems& problems_;
  ApplyCounters& counters_;
  OnCopied on_copied_;
};

// Runs every SendFile of `plan` on `workers` threads, each with its own DestTree clone and
// LocalCopySupplier: files are independent once ApplyBeforeData made their directories,
// and two cores copy small files nearly twice as fast as one. `on_copied` runs under a lock,
// so it may touch state that is not thread-safe (the hash caches).
void CopyFilesInParallel(const Plan& plan, const Manifest& src, int src_root_fd, const DestTree& tree,
                         const ApplyOptions& opts, int workers, Problems& problems, ApplyCounters& counters,
                         const LocalCopySupplier::OnCopied& on_copied);

}  // namespace ktsync
