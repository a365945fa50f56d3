// Applier: the PlanSink of every run. It carries the planner's output out through a Mover
// in the order plan.h requires, whatever the mover is (a local copy, a receiver, a dry run):
//   * Apply output in plan order; a SendFile is handed to the mover and finishes later;
//     HardLink and DirMeta wait until every SendFile before them is done (at most
//     kMaxDeferred of them, holding kMaxDeferredBytes (HeldBytes), wait; then the planner
//     waits for files to finish); a HardLink
//     whose leader's copy failed is not made (its problem says why);
//   * a retyped directory's subtree is removed deepest first at EndRemoval;
//   * deletions and the DirMetas that wait for them are spooled (bounded memory) and carried
//     out by Finish, deletions only when the deletion gate allows.
// A change that fails is recorded as its entry's problem and the run goes on. Each change
// is reported to the observer when it is done (or, in a dry run, when it is planned).
//
// The PlanSink side and Drain/Finish run on the planner's thread; FileDone on any.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <unordered_set>

#include "manifest/plan.h"
#include "mirror/action_spool.h"
#include "mirror/deletion_gate.h"
#include "mirror/mover.h"
#include "mirror/run_observer.h"
#include "util/problems.h"
#include "util/transfer_meter.h"

namespace ktsync {

struct ApplyCounts {
  std::atomic<uint64_t> files_written{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> deleted{0};        // Delete + RemoveForType
  std::atomic<uint64_t> meta_fixed{0};     // MetaOnly + DirMeta
  std::atomic<uint64_t> created_other{0};  // MkDir, Symlink, Special, HardLink
  bool deletes_skipped = false;            // the gate said no (errors, or a --max-delete limit)
};

class Applier final : public PlanSink, public FileDoneSink {
 public:
  static constexpr size_t kMaxDeferred = 65536;
  // A peer's directories may carry 64 KiB of attributes each: counted, not only numbered.
  static constexpr size_t kMaxDeferredBytes = 16 << 20;

  // `meter` (optional) learns the planned files as they are planned; `spool_dir` is where
  // spooled actions go once they outgrow memory ("" = $TMPDIR).
  Applier(Mover& mover, Problems& problems, RunObserver& observer, TransferMeter* meter, const std::string& spool_dir);

  void Apply(Action a) override;
  void Remove(Action a) override;
  void EndRemoval() override;
  void Delete(Action a) override;
  void Keep(Action a) override;
  void AfterDeletes(Action a) override;
  void FileDone(uint64_t seq, const Action& a, bool ok) override;

  // After the plan is complete: waits for every file, then runs what waited for them.
  void Drain();
  // Last: the deletions (deepest first) when `gate` allows, then the DirMetas after them.
  void Finish(const DeletionDecision& gate);

  const ApplyCounts& counts() const { return counts_; }

 private:
  struct Deferred {
    Action action;
    uint64_t after;  // the last SendFile before it
  };
  void Run(const Action& a);
  bool FilesDoneThrough(uint64_t seq) const;  // mu_ held
  bool LeaderFailed(const std::string& leader);
  void RunReadyDeferred();
  void Report(const Action& a);

  Mover& mover_;
  Problems& problems_;
  RunObserver& observer_;
  TransferMeter* meter_;
  ApplyCounts counts_;
  ActionSpool removals_, deletes_, after_deletes_;
  // DST-only directories the planner keeps after all (Keep): their spooled Deletes are
  // skipped with a warning. One path per DST directory holding protected entries.
  std::unordered_set<std::string> kept_dirs_;
  std::deque<Deferred> deferred_;  // planner thread only
  size_t deferred_bytes_ = 0;      // HeldBytes of their entries
  uint64_t next_seq_ = 1;          // SendFiles are numbered from 1
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<uint64_t> in_flight_;
  std::unordered_set<std::string> failed_leaders_;  // files with nlink > 1 not copied
};

}  // namespace ktsync
