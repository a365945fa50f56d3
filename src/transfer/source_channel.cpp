#include "transfer/source_channel.h"

#include "transfer/byte_io.h"
#include "util/error.h"

namespace ktsync {

SourceChannel::SourceChannel(ByteStream& in, ByteStream& out)
    // Keepalives start before the reader: a thread that cannot start then leaves no joinable one.
    : in_(in), out_(out, FrameSender::kKeepaliveEvery), reader_([this] { ReadLoop(); }) {}

SourceChannel::~SourceChannel() {
  if (!reader_.joinable()) return;
  {
    // After the Result the reader touches the stream no more (it returns as soon as it
    // sees ended_), and a run that ended well may have closed the stream already: only a
    // reader still waiting for frames is woken.
    std::lock_guard lock(mu_);
    if (!reader_done_ && !ended_) in_.ShutdownRead();
  }
  reader_.join();
}

void SourceChannel::ReadLoop() {
  try {
    FrameReader reader(in_);
    for (;;) {
      std::optional<Frame> f = reader.Next();
      if (!f) throw Error(ExitCode::SocketIo, in_.peer() + ": connection closed before the run finished");
      Handle(f->type, f->payload);
      std::lock_guard lock(mu_);
      if (ended_) {
        reader_done_ = true;
        return;
      }
    }
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    {
      std::lock_guard lock(mu_);
      if (!error_) error_ = e;
      reader_done_ = true;
      cv_.notify_all();
    }
    std::lock_guard lock(failure_mu_);
    if (on_failure_ && !failure_told_) {
      failure_told_ = true;
      on_failure_(e);
    }
  }
}

void SourceChannel::Fail(std::exception_ptr why) {
  std::lock_guard lock(mu_);
  if (!error_) error_ = why;
  cv_.notify_all();
}

void SourceChannel::OnFailure(std::function<void(std::exception_ptr)> f) {
  std::lock_guard lock(failure_mu_);
  on_failure_ = std::move(f);
  std::exception_ptr e;
  {
    std::lock_guard l(mu_);
    e = error_;
  }
  if (e && on_failure_ && !failure_told_) {
    failure_told_ = true;
    on_failure_(e);
  }
}

void SourceChannel::Handle(FrameType type, std::string_view payload) {
  std::unique_lock lock(mu_);
  if (ended_) ThrowProtocolError(std::string(FrameTypeName(type)) + " after the source's Result");
  switch (type) {
    case FrameType::ManifestBatch: {
      if (manifest_ended_) ThrowProtocolError("entries after the end of the file list");
      EntryBatch b;
      decoder_.Decode(payload, b);
      for (const Entry& e : b.entries)
        if (!credit_.Receive(static_cast<int64_t>(EncodedEntryBytes(e)))) BeyondCredit();
      batches_.push_back(std::move(b));
      break;
    }
    case FrameType::ManifestEnd: {
      if (DecodeManifestEnd(payload) != decoder_.count())
        ThrowProtocolError("ManifestEnd: entry count does not match the entries sent");
      if (manifest_ended_ || decoder_.count() == 0) ThrowProtocolError("file list ended twice, or without its root");
      manifest_ended_ = true;
      break;
    }
    case FrameType::HashReply: {
      std::vector<HashReplyItem> items;
      DecodeHashReply(payload, items);
      for (const HashReplyItem& it : items) {
        if (hash_waiting_.empty() || hash_waiting_.front() != it.index) ThrowProtocolError("hash reply out of order");
        hash_waiting_.pop_front();
        hash_replies_.push_back(it);
      }
      break;
    }
    case FrameType::Report:
      end_.Add(DecodeReport(payload));
      break;
    case FrameType::Result:
      if (!manifest_ended_ || !hash_waiting_.empty() || !requests_over_)
        ThrowProtocolError("Result before the file list, the hash replies or the requests ended");
      end_.stats = DecodeStats(payload);
      ended_ = true;
      break;
    case FrameType::Error: {
      ErrorMessage m = DecodeError(payload);
      throw Error(m.code, in_.peer() + ": " + m.message);
    }
    default:
      ThrowProtocolError(std::string("unexpected ") + FrameTypeName(type) + " from the source");
  }
  cv_.notify_all();
}

void SourceChannel::BeyondCredit() const {
  const Credit& g = credit_.granted();
  if (credit_.received() >= g.send_below) {
    ThrowProtocolError("the source sent entries beyond the " + std::to_string(g.send_below) + " it was allowed");
  }
  ThrowProtocolError("the source sent entries beyond the " + std::to_string(g.send_bytes_below) +
                     " bytes it was allowed");
}

void SourceChannel::WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready) {
  cv_.wait(lock, [&] { return ready() || error_; });
  if (!ready() && error_) std::rethrow_exception(error_);
}

bool SourceChannel::NextBatch(EntryBatch& out) {
  {
    std::lock_guard lock(requests_mu_);
    FlushLocked();  // the source may be waiting for these before it can go on
  }
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return !batches_.empty() || manifest_ended_; });
  if (batches_.empty()) return false;
  out = std::move(batches_.front());
  batches_.pop_front();
  return true;
}

void SourceChannel::Release(int64_t below, bool before_wait) {
  std::lock_guard lock(requests_mu_);
  std::optional<Credit> grant;
  {
    std::lock_guard l(mu_);
    grant = credit_.Release(below, before_wait);
  }
  if (!grant) return;  // not worth a frame yet
  FlushLocked();
  out_.Send(FrameType::Credit, EncodeCredit, *grant);
}

bool SourceChannel::Starved() {
  std::lock_guard lock(mu_);
  return !manifest_ended_ && batches_.empty() && credit_.Starved();
}

void SourceChannel::RequestHashes(const std::vector<int64_t>& indices) {
  std::lock_guard lock(requests_mu_);
  FlushLocked();
  {
    std::lock_guard l(mu_);
    hash_waiting_.insert(hash_waiting_.end(), indices.begin(), indices.end());
  }
  out_.SendAll(FrameType::HashRequest, EncodeIndexList, std::span<const int64_t>(indices));
}

std::vector<HashReplyItem> SourceChannel::AwaitHashes() {
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return hash_waiting_.empty(); });
  return std::move(hash_replies_);
}

void SourceChannel::RequestFile(int64_t index) {
  std::lock_guard lock(requests_mu_);
  file_batch_.push_back(index);
  if (file_batch_.size() >= kFileRequestBatch) FlushLocked();
}

void SourceChannel::Flush() {
  std::lock_guard lock(requests_mu_);
  FlushLocked();
}

void SourceChannel::FlushLocked() {
  out_.SendAll(FrameType::SendList, EncodeIndexList, std::span<const int64_t>(file_batch_));
  file_batch_.clear();
}

void SourceChannel::EndRequests() {
  std::lock_guard lock(requests_mu_);
  {
    std::lock_guard l(mu_);
    if (requests_over_) return;
    requests_over_ = true;
  }
  FlushLocked();
  out_.SendEmpty(FrameType::Done);
}

PeerEnd SourceChannel::AwaitEnd() {
  EndRequests();
  std::unique_lock lock(mu_);
  WaitFor(lock, [&] { return ended_; });
  return std::move(end_);
}

void SourceChannel::SendItem(const ItemView& item) { out_.Queue(FrameType::Item, EncodeItem, item); }

void SourceChannel::SendReport(const SessionReport& r) { out_.Send(FrameType::Report, EncodeReport, r); }

void SourceChannel::SendResult(const Stats& s) { out_.Send(FrameType::Result, EncodeStats, s); }

void SourceChannel::ExpectDone() {
  {
    std::unique_lock lock(mu_);
    WaitFor(lock, [&] { return ended_; });
  }
  reader_.join();  // the reader stopped after Result: the stream is ours to read
  FrameReader(in_).Expect(FrameType::Done);
}

void SourceChannel::SendDone() { out_.SendLast(FrameType::Done); }

}  // namespace ktsync
