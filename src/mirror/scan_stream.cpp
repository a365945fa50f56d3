#include "mirror/scan_stream.h"

#include <utility>

namespace ktsync {

class ScanStream::Sink final : public ScanSink {
 public:
  Sink(ScanStream& s, TransferMeter* meter) : s_(s), meter_(meter) { batch_.entries.reserve(kBatchEntries); }
  void Add(Entry e) override {
    // A Hidden marker (scan.h) is no entry of the run: the summary does not count it either.
    if (e.protection != Entry::Protection::Hidden) ++counted_;
    batch_.entries.push_back(std::move(e));
    if (batch_.entries.size() == kBatchEntries) Flush();
  }
  void Flush() {
    if (batch_.entries.empty()) return;
    if (meter_) meter_->scanned.fetch_add(counted_, std::memory_order_relaxed);
    counted_ = 0;
    int64_t next = batch_.first + static_cast<int64_t>(batch_.entries.size());
    s_.Push(std::move(batch_));
    batch_ = EntryBatch{next, {}};
    batch_.entries.reserve(kBatchEntries);
  }

 private:
  ScanStream& s_;
  TransferMeter* meter_;
  EntryBatch batch_;
  uint64_t counted_ = 0;  // entries in batch_ the meter counts
};

ScanStream::ScanStream(TreeSide& side, Problems& problems, bool failures_only)
    : problems_(problems), thread_([this, &side, failures_only] { Walk(side, failures_only); }) {}

ScanStream::~ScanStream() {
  cancel_ = true;
  cv_.notify_all();
  thread_.join();
}

void ScanStream::Walk(TreeSide& side, bool failures_only) {
  auto start = std::chrono::steady_clock::now();
  Problems mine;
  ScanSummary summary;
  std::exception_ptr error;
  try {
    Sink sink(*this, side.meter());
    if (side.exists()) {
      ScanOptions opts = side.MakeScanOptions();
      opts.cancel = &cancel_;
      summary = ScanTree(side.root_fd(), opts, mine, sink, side.name());
    } else {
      Entry root;
      root.type = EntryType::Dir;
      root.mode = 0755;
      sink.Add(std::move(root));
      summary.entries = summary.dirs = 1;
    }
    sink.Flush();
  } catch (...) {
    error = std::current_exception();
  }
  problems_.AddAll(mine, failures_only);
  std::lock_guard lock(mu_);
  summary_ = std::move(summary);
  seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  error_ = error;
  done_ = true;
  cv_.notify_all();
}

bool ScanStream::Push(EntryBatch batch) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kQueuedBatches || cancel_; });
  if (cancel_) return false;
  queue_.push_back(std::move(batch));
  cv_.notify_all();
  return true;
}

bool ScanStream::NextBatch(EntryBatch& out) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return false;
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  cv_.notify_all();
  return true;
}

}  // namespace ktsync
