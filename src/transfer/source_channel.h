// SourceChannel: the control channel as the destination end of a session sees it, the peer
// holding SRC (a pull's server, a push's client). Protocol only: it carries entries,
// requests and reports and checks them; what to do with them is the caller's.
//
// One reader thread drains everything the source sends, so neither end ever waits on the
// other's reading; every kind of frame is bounded by what this end allowed:
//   ManifestBatch  only within the Credit granted (kWindow entries and kByteWindow encoded
//                  bytes past the released ones: entry_credit.h), checked in order by a
//                  ManifestDecoder; then ManifestEnd with the count.
//   HashReply      only for requested entries, in request order.
//   Report         the source's problems: at most PeerEnd::kMaxReports kept, the rest counted.
//   Result         the source's numbers, once, last: after ManifestEnd, the replies to
//                  every hash request and this end's Done (the reader then stops).
//   Error          the run ends with the peer's code and message.
// Anything else, or out of turn, ends the run with a protocol error (exit 12).
//
// Writes (credits, requests, and a push server's items and results) come from any thread.
// File requests are batched; any other write sends the batch first, so a Credit that
// releases an entry never overtakes the request for it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "manifest/plan.h"
#include "transfer/entry_credit.h"
#include "transfer/frame_sender.h"
#include "transfer/session_messages.h"
#include "transfer/stream.h"
#include "transfer/wire.h"

namespace ktsync {

class SourceChannel {
 public:
  static constexpr int64_t kWindow = CreditGrantor::kWindow;          // entries granted past the released ones
  static constexpr int64_t kByteWindow = CreditGrantor::kByteWindow;  // bytes granted past the released ones
  static constexpr size_t kFileRequestBatch = 1024;  // file requests per SendList

  SourceChannel(ByteStream& in, ByteStream& out);
  ~SourceChannel();  // stops the reader, interrupting a read when the run ends early
  SourceChannel(const SourceChannel&) = delete;
  SourceChannel& operator=(const SourceChannel&) = delete;

  // The next batch of SRC entries; false after ManifestEnd. Rethrows the reader's error.
  bool NextBatch(EntryBatch& out);
  // Entries below `below` will not be asked about again; grants the source more room.
  void Release(int64_t below, bool before_wait = false);
  // True when every entry that came was taken (NextBatch) and the source may be out of
  // credit: then nothing more comes until the caller releases entries.
  bool Starved();
  void RequestHashes(const std::vector<int64_t>& indices);
  // Waits for the replies to every RequestHashes so far, in request order.
  std::vector<HashReplyItem> AwaitHashes();
  void RequestFile(int64_t index);  // batched
  void Flush();                     // sends the batched file requests
  void EndRequests();               // Done: nothing more will be asked (once; later calls no-ops)

  // Waits for the source's Result (its last problems come before it).
  PeerEnd AwaitEnd();

  // Toward the peer, from any thread: a push server's changes (which may wait a moment to
  // go out with others: FrameSender::Queue), problems and numbers.
  void SendItem(const ItemView& item);
  void SendReport(const SessionReport& r);
  void SendResult(const Stats& s);
  // After Result: the peer's last Done (a push client's goodbye), read by the caller.
  void ExpectDone();
  // Pull: tells the server the session is over.
  void SendDone();
  const std::string& peer_name() const { return in_.peer(); }
  // `f` is called once, on the reader's thread, if the channel fails (at once when it
  // already has): whoever waits for file data stops waiting. Reset it (nullptr) before
  // its target goes away; once that returns, `f` is not running.
  void OnFailure(std::function<void(std::exception_ptr)> f);
  // The run ends for a reason found elsewhere (the data connections failed): every wait
  // here ends by rethrowing `why` (unless the channel failed first).
  void Fail(std::exception_ptr why);

 private:
  void ReadLoop();
  void Handle(FrameType type, std::string_view payload);
  void FlushLocked();  // requests_mu_ held
  [[noreturn]] void BeyondCredit() const;  // mu_ held
  void WaitFor(std::unique_lock<std::mutex>& lock, const std::function<bool()>& ready);

  ByteStream& in_;
  FrameSender out_;

  std::mutex requests_mu_;  // orders requests and credits: a Credit never overtakes a request
  std::vector<int64_t> file_batch_;

  std::mutex mu_;  // what the reader hands over
  std::condition_variable cv_;
  ManifestDecoder decoder_;
  CreditGrantor credit_;
  std::deque<EntryBatch> batches_;
  bool manifest_ended_ = false;
  std::deque<int64_t> hash_waiting_;  // requested, not yet answered
  std::vector<HashReplyItem> hash_replies_;
  PeerEnd end_;
  bool ended_ = false;
  std::exception_ptr error_;
  bool reader_done_ = false;
  bool requests_over_ = false;  // EndRequests was called

  std::mutex failure_mu_;  // held while on_failure_ runs
  std::function<void(std::exception_ptr)> on_failure_;
  bool failure_told_ = false;
  std::thread reader_;  // last: starts once everything above is set
};

}  // namespace ktsync
