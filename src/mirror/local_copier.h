// LocalCopier: the mover of a local mirror. Changes other than file data are made on the
// caller's thread through a DestTree; files are copied by kWorkers threads (two cores copy
// small files nearly twice as fast as one) from a bounded queue that ReadAhead warms, so
// copying starts with the first planned file while both trees are still being listed.
// Files are handed to the workers in groups (work_queue.h): a hand-off per file cost more
// than copying an empty file.
// Every copied file's hash is recorded in both trees' caches, so the next run neither
// re-reads what was copied nor re-hashes the copy.
#pragma once

#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "apply/apply_action.h"
#include "apply/dest_tree.h"
#include "apply/local_copy.h"
#include "mirror/mover.h"
#include "mirror/tree_side.h"
#include "transfer/rate_limiter.h"
#include "util/problems.h"
#include "util/read_ahead.h"
#include "util/transfer_meter.h"
#include "util/work_queue.h"

namespace ktsync {

class LocalCopier final : public Mover {
 public:
  static constexpr int kWorkers = 2;  // the machines we target have 2 cores; more only contend
  static constexpr size_t kQueued = 1024;

  // --bwlimit holds for local copies too (as in rsync), paid per copied file: the average
  // rate is kept, though one large file is still copied at full speed before the pause.
  LocalCopier(TreeSide& src, TreeSide& dst, const CopyOptions& opts, Problems& problems, TransferMeter* meter,
              uint64_t bwlimit);
  ~LocalCopier() override;

  void Apply(const Action& a) override;
  void Fetch(Action a, uint64_t seq, FileDoneSink& done) override;
  void Flush() override;
  void Drain() override;
  void Abort() override;

 private:
  struct Job {
    Action action;
    uint64_t seq = 0;
    FileDoneSink* done = nullptr;
  };
  void Work();

  TreeSide& src_;
  TreeSide& dst_;
  const CopyOptions opts_;
  Problems& problems_;
  TransferMeter* meter_;
  RateLimiter limiter_;
  DestTree tree_;  // the caller's thread; workers use clones
  WorkQueue<Job> queue_;
  std::vector<Job> handing_;  // the caller's next group
  uint64_t handing_bytes_ = 0;
  std::optional<ReadAhead> ahead_;
  std::vector<std::thread> workers_;
};

}  // namespace ktsync
