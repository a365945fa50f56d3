#include "mirror/receiver.h"

#include <unistd.h>

#include "transfer/control.h"
#include "util/error.h"

namespace ktsync {

Receiver::Receiver(TreeSide& dst, const ApplyOptions& opts, SourceChannel& channel, OpenStreams open,
                   StreamOpener reopen, bool compressed, Problems& problems, TransferMeter* meter, RunStats& stats)
    : dst_(dst),
      opts_(opts),
      channel_(channel),
      open_(std::move(open)),
      reopen_(std::move(reopen)),
      compressed_(compressed),
      problems_(problems),
      meter_(meter),
      stats_(stats),
      tree_(UniqueFd(::dup(dst.root_fd()))) {
  channel_.OnFailure([this](std::exception_ptr e) { OnChannelFailure(e); });
}

Receiver::~Receiver() {
  channel_.OnFailure(nullptr);
  Abort();
}

void Receiver::Abort() {
  std::lock_guard lock(receiver_mu_);
  receiver_.reset();
  // The sink goes away next: a file the failing channel ends later (OnFatal, from its
  // reader) must find nothing to report.
  std::lock_guard l(mu_);
  in_flight_.clear();
  in_flight_bytes_ = 0;
}

void Receiver::Apply(const Action& a) { ApplyAction(a, tree_, opts_); }

void Receiver::Start() {
  std::vector<std::unique_ptr<ByteStream>> streams;
  try {
    streams = open_();
  } catch (...) {
    // Interrupted because the control channel failed: its error is the run's (a peer's
    // protocol violation), not the interruption.
    std::lock_guard l(mu_);
    std::rethrow_exception(failure_ ? failure_ : std::current_exception());
  }
  stats_.encryption_recv = DescribeEncryption(*streams[0], /*send=*/false);
  stats_.streams = static_cast<int>(streams.size());
  DataReceiveOptions ro;
  ro.apply = opts_;
  ro.meter = meter_;
  ro.compressed = compressed_;
  ro.on_file = [this](const ReceivedFile& r) { OnFile(r); };
  ro.on_fatal = [this](std::exception_ptr e) { OnFatal(e); };
  std::lock_guard lock(receiver_mu_);
  {
    std::lock_guard l(mu_);
    if (failure_) std::rethrow_exception(failure_);  // the channel failed while we connected
  }
  receiver_ = std::make_unique<FileReceiver>(std::move(streams), reopen_, tree_, expected_, std::move(ro), problems_);
}

void Receiver::Fetch(Action a, uint64_t seq, FileDoneSink& done) {
  done_ = &done;
  bool first = !receiver_;
  {
    std::unique_lock lock(mu_);
    if (Full()) {
      lock.unlock();
      channel_.Flush();  // what we wait for must have been asked for
      lock.lock();
      cv_.wait(lock, [&] { return HasRoom() || failure_; });
    }
    if (failure_) std::rethrow_exception(failure_);
    expected_.Add(a.src_index, {a.entry, seq});
    int64_t index = a.src_index;
    in_flight_bytes_ += HeldBytes(a.entry);
    in_flight_.emplace(seq, std::move(a));
    lock.unlock();
    channel_.RequestFile(index);
  }
  if (first) {
    // A push's client connects once it is asked for a file: ask first, then wait for it.
    channel_.Flush();
    Start();
  }
}

void Receiver::OnFile(const ReceivedFile& r) {
  if (r.ok) dst_.store().Record(r.file.entry.path, r.info, r.hash);
  if (r.discarded) ++discarded_;
  Action a;
  {
    std::lock_guard lock(mu_);
    auto it = in_flight_.find(r.file.cookie);
    if (it == in_flight_.end()) return;
    a = std::move(it->second);
    in_flight_.erase(it);
    in_flight_bytes_ -= HeldBytes(a.entry);
    if (HasRoom()) cv_.notify_all();  // what Fetch waits for
  }
  done_->FileDone(r.file.cookie, a, r.ok);
}

bool Receiver::Full() const { return in_flight_.size() >= kMaxInFlight || in_flight_bytes_ >= kMaxInFlightBytes; }

bool Receiver::HasRoom() const {
  return in_flight_.size() <= kRoomToAsk && in_flight_bytes_ <= kMaxInFlightBytes - kMaxInFlightBytes / 8;
}

void Receiver::Fail(const ExpectedFiles::File& f, const std::string& why) {
  if (!why.empty()) problems_.Fail(f.entry.path, why);
  OnFile(ReceivedFile{-1, f, false, false, Hash128{}, FinalInfo{}});
}

// The run ends: every file still asked for is done (not ok), so nobody waits for it, and
// the planner, perhaps waiting for the source's next entries, hears of it.
void Receiver::OnFatal(std::exception_ptr e) {
  {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = e;
    cv_.notify_all();
  }
  channel_.Fail(e);
  for (auto& [index, f] : expected_.TakeAll()) Fail(f, "");
}

// From the channel's reader: the data connections stop too, so a Drain waiting for them
// ends with the channel's error.
void Receiver::OnChannelFailure(std::exception_ptr e) {
  {
    std::lock_guard lock(mu_);
    if (!failure_) failure_ = e;  // before the interruption, which Start then explains with it
  }
  if (interrupt_open_) interrupt_open_();
  std::lock_guard lock(receiver_mu_);
  if (receiver_) {
    receiver_->Stop(e);  // calls OnFatal
  } else {
    OnFatal(e);
  }
}

void Receiver::Drain() {
  expected_.Close();
  channel_.EndRequests();
  if (!receiver_) return;
  DataReceiveResult r = receiver_->Join();
  stats_.wire_bytes = r.wire_bytes;
  stats_.files_discarded = discarded_;
  // The sender ends every file it was asked for; one it never mentioned is its bug.
  for (auto& [index, f] : expected_.TakeAll())
    Fail(f, channel_.peer_name() + ": the source never sent " + f.entry.path + ", which it was asked for");
}

}  // namespace ktsync
