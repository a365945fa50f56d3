#include "mirror/source_half.h"

#include <exception>
#include <optional>
#include <thread>

#include "mirror/remote_stats.h"
#include "transfer/control.h"
#include "transfer/rate_limiter.h"
#include "transfer/tls_channel.h"
#include "util/error.h"

namespace ktsync {
namespace {

class SourceHalf {
 public:
  SourceHalf(TreeSide& src, DestChannel& channel, const SourceHalfOptions& opts, Problems& problems,
             TransferMeter* meter, RunStats& stats)
      : src_(src), channel_(channel), opts_(opts), problems_(problems), meter_(meter), stats_(stats),
        limiter_(opts.bwlimit), queue_(kQueued, DescribeSendItem()) {}

  ~SourceHalf() {
    if (!finished_) channel_.Abort();  // the request thread may be waiting for the peer
    queue_.Close(/*discard=*/true);
    if (requests_.joinable()) requests_.join();
    if (sender_.joinable()) sender_.join();
  }

  void Run(ScanStream& scan, RunObserver& observer) {
    if (opts_.open_first) OpenStreams();  // --require-ktls refuses before the destination changes anything
    requests_ = std::thread([this] { ServeRequests(); });
    EntryBatch batch;
    while (scan.NextBatch(batch)) channel_.SendBatch(batch);
    channel_.EndManifest();
    observer.Scanned(TreeRole::Source, scan.summary().entries);
    // A pull's server keeps it for the client (RunObserver::TakeWarnings).
    if (std::string w = SkippedMountsWarning(scan.summary(), "SRC"); !w.empty()) observer.Warn(w);
    stats_.src_entries = scan.summary().entries;
    stats_.src_file_bytes = scan.summary().bytes;
    requests_.join();
    if (sender_.joinable()) sender_.join();
    RethrowFailure();
    Report(observer);
    finished_ = true;
  }

 private:
  static constexpr size_t kQueued = 1024;

  // Hash requests are answered here, file requests queued for the senders.
  void ServeRequests() {
    try {
      while (std::optional<DestChannel::Request> r = channel_.NextRequest()) {
        if (r->kind == DestChannel::Request::Hashes) {
          AnswerHashes(*r);
          continue;
        }
        if (!sender_.joinable()) StartSending();
        std::vector<SendItem> items;
        items.reserve(r->entries.size());
        for (auto& [index, entry] : r->entries) {
          if (meter_) meter_->AddPlanned(entry.size);
          items.push_back(SendItem{index, std::move(entry)});
        }
        queue_.PushAll(items);
      }
      if (meter_) meter_->planned = true;
      queue_.Close();
    } catch (...) {
      Failed(std::current_exception());
    }
  }

  void AnswerHashes(DestChannel::Request& r) {
    std::vector<Entry*> entries;
    entries.reserve(r.entries.size());
    for (auto& [index, e] : r.entries) entries.push_back(&e);
    src_.FillHashes(entries, problems_);
    std::vector<HashReplyItem> replies;
    replies.reserve(r.entries.size());
    for (const auto& [index, e] : r.entries) replies.push_back({index, e.hash});
    channel_.SendHashes(replies);
  }

  void OpenStreams() {
    streams_ = opts_.open_streams();
    std::string how = DescribeEncryption(*streams_[0], /*send=*/true);
    if (opts_.require_ktls) {
      const auto* tls = dynamic_cast<const TlsStream*>(streams_[0].get());
      if (!tls || !tls->ktls().tx) {
        throw Error(ExitCode::KtlsUnavailable, "--require-ktls: encryption would run in userspace, not the kernel: " + how);
      }
    }
    stats_.encryption_send = how;
    stats_.streams = static_cast<int>(streams_.size());
  }

  void StartSending() {
    if (streams_.empty()) OpenStreams();
    sender_ = std::thread([this] {
      try {
        DataSendOptions so;
        so.src_root_fd = src_.root_fd();
        so.limiter = &limiter_;
        so.meter = meter_;
        so.skip_changing = opts_.skip_changing;
        so.follow_links = src_.follows_links();
        so.compress_level = opts_.compress_level;
        so.on_sent = [this](const SentFile& s) { src_.store().Record(s.entry->path, s.key, s.hash); };
        DataSendResult r = SendFiles(std::move(streams_), opts_.reopen, queue_, so, problems_);
        stats_.files_sent = r.files;
        stats_.bytes_sent = r.bytes;
        stats_.wire_bytes = r.wire_bytes;
      } catch (...) {
        Failed(std::current_exception());
      }
    });
  }

  void Failed(std::exception_ptr e) {
    {
      std::lock_guard lock(mu_);
      if (!error_) error_ = e;
    }
    queue_.Close(/*discard=*/true);
  }

  void RethrowFailure() {
    std::lock_guard lock(mu_);
    if (error_) std::rethrow_exception(error_);
  }

  // Our problems close the destination's deletion gate; then notes (warnings, too, for a
  // pull's client), then our numbers.
  void Report(RunObserver& observer) {
    src_.CommitStore();
    for (const Problem& p : problems_.Snapshot()) channel_.SendReport(ReportOf(p));
    if (!stats_.encryption_send.empty()) channel_.SendReport({SessionReport::Note, "encryption", stats_.encryption_send});
    for (std::string& w : observer.TakeWarnings()) channel_.SendReport({SessionReport::Note, "warning", std::move(w)});
    StoreStats ss = src_.store().stats();
    stats_.hashed_src = ss.hashed;
    stats_.cache_hits_src = ss.hits;
    channel_.SendResult(SourceStatsToWire(stats_));
  }

  TreeSide& src_;
  DestChannel& channel_;
  const SourceHalfOptions& opts_;
  Problems& problems_;
  TransferMeter* meter_;
  RunStats& stats_;
  RateLimiter limiter_;
  SendQueue queue_;
  std::vector<std::unique_ptr<ByteStream>> streams_;
  std::mutex mu_;
  std::exception_ptr error_;
  bool finished_ = false;
  std::thread requests_;
  std::thread sender_;
};

}  // namespace

void RunSourceHalf(TreeSide& src, ScanStream& scan, DestChannel& channel, const SourceHalfOptions& opts,
                   Problems& problems, RunObserver& observer, TransferMeter* meter, RunStats& stats) {
  SourceHalf(src, channel, opts, problems, meter, stats).Run(scan, observer);
}

}  // namespace ktsync
