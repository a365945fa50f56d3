// DestChannel: the control channel as the source end of a session sees it, the peer holding
// DST (a pull's client, a push's server). Protocol only: it streams SRC's entries within the
// credit the destination grants, keeps those not yet released in a window, and turns the
// destination's requests, which name entries by ordinal, back into the entries: the peer
// never names a path for us to open.
//
// One reader thread drains everything the destination sends, bounded by what this end
// listed: the window holds at most kMaxWindow entries of kMaxByteWindow encoded bytes
// whatever credit is granted (entry_credit.h); an
// ordinal outside it is a protocol error; each entry may be asked for its hash once and
// for its data once (and only a regular file). A push server's Items are handed to
// `on_item` as they come. Writes come from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "manifest/plan.h"
#include "transfer/entry_credit.h"
#include "transfer/frame_sender.h"
#include "transfer/session_messages.h"
#include "transfer/stream.h"
#include "transfer/wire.h"

namespace ktsync {

class DestChannel {
 public:
  static constexpr int64_t kMaxWindow = CreditAllowance::kMaxWindow;
  static constexpr int64_t kMaxByteWindow = CreditAllowance::kMaxByteWindow;

  struct Request {
    enum Kind { Hashes, Files } kind = Hashes;
    std::vector<std::pair<int64_t, Entry>> entries;  // (ordinal, the entry as listed)
  };

  // `dest_reports_end`: the destination ends with its own Reports and Result (a push's
  // server); otherwise with a second Done (a pull's client).
  DestChannel(ByteStream& in, ByteStream& out, std::function<void(const ItemView&)> on_item, bool dest_reports_end);
  ~DestChannel();  // stops the reader, interrupting a read when the run ends early
  DestChannel(const DestChannel&) = delete;
  DestChannel& operator=(const DestChannel&) = delete;

  // Sends a batch of entries (the next ordinals), waiting for credit as needed.
  void SendBatch(const EntryBatch& b);
  void EndManifest();
  // The destination's next request; nullopt once it said it needs nothing more.
  std::optional<Request> NextRequest();
  void SendHashes(const std::vector<HashReplyItem>& items);
  void SendReport(const SessionReport& r);
  void SendResult(const Stats& s);

  PeerEnd AwaitEnd();  // a push server's last word
  void SendDone();     // after AwaitEnd: goodbye
  void AwaitDone();    // a pull client's goodbye
  // The run failed on this side: waiters wake with an error, the reader stops.
  void Abort();

 private:
  struct Slot {
    Entry entry;
    bool hash_asked = false;
    bool data_asked = false;
  };
  void ReadLoop();
  void Handle(FrameType type, std::string_view payload);
  Request Lookup(Request::Kind kind, std::string_view payload);  // mu_ held
  void WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready);
  // Runs `send`; when the connection breaks under it, the destination's own Error frame
  // (e.g. "compare first", read by the reader a moment later) is the error, not the pipe.
  void Sending(const std::function<void()>& send);

  ByteStream& in_;
  const std::function<void(const ItemView&)> on_item_;
  const bool dest_reports_end_;

  FrameSender out_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot> window_;
  int64_t base_ = 0;  // ordinal of window_[0]
  CreditAllowance credit_;
  std::deque<Request> requests_;
  bool requests_ended_ = false;
  bool goodbye_ = false;
  PeerEnd end_;
  bool ended_ = false;
  std::exception_ptr error_;
  std::thread reader_;  // last: starts once everything above is set
};

}  // namespace ktsync
