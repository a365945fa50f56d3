// ScanStream: lists one TreeSide on its own thread into a bounded queue of batches: the
// EntrySource that a merge or a sender reads while the walk goes on. Its memory is the
// queue (kQueuedBatches of kBatchEntries) and the walk's own directory listings.
//
// A dry run's DST that does not exist yet is listed as an empty root.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "manifest/diff.h"
#include "manifest/scan.h"
#include "mirror/tree_side.h"
#include "util/problems.h"

namespace ktsync {

class ScanStream final : public EntrySource {
 public:
  static constexpr size_t kBatchEntries = 1024;
  static constexpr size_t kQueuedBatches = 8;

  // Entries the walk cannot read go to `problems`; as failures when `failures_only` (on a
  // destination nothing "vanished from the source").
  ScanStream(TreeSide& side, Problems& problems, bool failures_only);
  // An abandoned scan (the run failed first) stops at its next entry and is joined.
  ~ScanStream();
  ScanStream(const ScanStream&) = delete;
  ScanStream& operator=(const ScanStream&) = delete;

  // Rethrows the walk's fatal error (a root that cannot be read) instead of ending.
  bool NextBatch(EntryBatch& out) override;

  // Valid once NextBatch returned false.
  const ScanSummary& summary() const { return summary_; }
  double seconds() const { return seconds_; }

 private:
  class Sink;
  void Walk(TreeSide& side, bool failures_only);
  bool Push(EntryBatch batch);  // false once cancelled

  Problems& problems_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<EntryBatch> queue_;
  bool done_ = false;
  std::exception_ptr error_;
  ScanSummary summary_;
  double seconds_ = 0;
  std::atomic<bool> cancel_{false};
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace ktsync
