// Receiver: the mover of a network run's destination half (a pull's client, a push's
// server). Changes other than file data are made here through a DestTree; a file's data is
// asked of the source through the SourceChannel and arrives on the data connections, opened
// when the first file is wanted. At most kMaxInFlight files, whose entries hold
// kMaxInFlightBytes (HeldBytes; each is kept twice: the action and the expected file), are
// asked for and not done.
// Every file asked for is done, one way or another: when the data connections fail, when
// the control channel fails, and when the source ends without sending it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "apply/apply_action.h"
#include "apply/dest_tree.h"
#include "mirror/mover.h"
#include "mirror/tree_side.h"
#include "transfer/data_channel.h"
#include "transfer/source_channel.h"
#include "util/run_stats.h"
#include "util/transfer_meter.h"

namespace ktsync {

class Receiver final : public Mover {
 public:
  static constexpr size_t kMaxInFlight = 8192;
  // A full Fetch waits until a whole request batch fits: asking for one file per SendList
  // cost the source four syscalls a file.
  static constexpr size_t kRoomToAsk = kMaxInFlight - SourceChannel::kFileRequestBatch;
  // A peer's files may carry 4 KiB paths and 64 KiB of attributes each.
  static constexpr size_t kMaxInFlightBytes = 16 << 20;
  using OpenStreams = std::function<std::vector<std::unique_ptr<ByteStream>>()>;

  // `stats` gets the encryption, stream count and wire bytes of the data connections.
  // `compressed`: the run asked for compressed file data (-z).
  Receiver(TreeSide& dst, const ApplyOptions& opts, SourceChannel& channel, OpenStreams open, StreamOpener reopen,
           bool compressed, Problems& problems, TransferMeter* meter, RunStats& stats);
  ~Receiver() override;

  void Apply(const Action& a) override;
  void Fetch(Action a, uint64_t seq, FileDoneSink& done) override;
  void Flush() override { channel_.Flush(); }
  void Drain() override;
  void Abort() override;
  // Called when the control channel fails, to end a wait for data connections that will
  // never come (the server's accept queue), so a dead client cannot hold the run.
  void InterruptOpeningWith(std::function<void()> interrupt) { interrupt_open_ = std::move(interrupt); }

 private:
  void Start();
  void OnFile(const ReceivedFile& r);
  void OnFatal(std::exception_ptr e);
  void OnChannelFailure(std::exception_ptr e);
  void Fail(const ExpectedFiles::File& f, const std::string& why);
  bool Full() const;     // mu_ held: Fetch waits before asking for another file
  bool HasRoom() const;  // mu_ held: a full Fetch goes on (room for a whole request batch)

  TreeSide& dst_;
  const ApplyOptions opts_;
  SourceChannel& channel_;
  OpenStreams open_;
  StreamOpener reopen_;
  bool compressed_;
  std::function<void()> interrupt_open_;
  Problems& problems_;
  TransferMeter* meter_;
  RunStats& stats_;
  DestTree tree_;
  FileDoneSink* done_ = nullptr;
  ExpectedFiles expected_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, Action> in_flight_;  // by seq
  size_t in_flight_bytes_ = 0;                      // HeldBytes of their entries
  std::exception_ptr failure_;                      // what ended the run
  std::atomic<uint64_t> discarded_{0};
  std::mutex receiver_mu_;  // receiver_ is started and stopped here, stopped by the channel too
  std::unique_ptr<FileReceiver> receiver_;  // last: its threads call back into the above
};

}  // namespace ktsync
