// FrameSender: frames to the peer of a control channel from any thread, each one whole.
// Payloads are encoded under the lock into one reused buffer, with the wire.h encoders.
//
// Queue'd frames (a push server's Items: one per change, a million in a big run) may wait
// to go out together: until kQueuedBytes are waiting, kQueueDelay has passed since the
// first, or any other frame is sent (which they always precede). Over ssh, a write per
// tiny frame cost more than the change it reported.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "transfer/stream.h"
#include "transfer/wire.h"

namespace ktsync {

class FrameSender {
 public:
  static constexpr size_t kQueuedBytes = 64 << 10;
  static constexpr std::chrono::milliseconds kQueueDelay{50};

  explicit FrameSender(ByteStream& out) : out_(out) {}
  ~FrameSender();  // drops what is still queued: the run's last frames flush it
  FrameSender(const FrameSender&) = delete;
  FrameSender& operator=(const FrameSender&) = delete;

  template <class Message>
  void Send(FrameType type, void (*encode)(const Message&, std::string&), const Message& m) {
    std::lock_guard lock(mu_);
    WriteQueued();
    buf_.clear();
    encode(m, buf_);
    FrameWriter(out_).Write(type, buf_);
  }

  void SendEmpty(FrameType type) {
    std::lock_guard lock(mu_);
    WriteQueued();
    FrameWriter(out_).Write(type, {});
  }

  // `items` in as many frames as they need: `encode` appends what fits in one payload and
  // returns how many items it took.
  template <class T>
  void SendAll(FrameType type, size_t (*encode)(std::span<const T>, std::string&), std::span<const T> items) {
    std::lock_guard lock(mu_);
    WriteQueued();
    while (!items.empty()) {
      buf_.clear();
      size_t n = encode(items, buf_);
      FrameWriter(out_).Write(type, buf_);
      items = items.subspan(n);
    }
  }

  template <class Message>
  void Queue(FrameType type, void (*encode)(const Message&, std::string&), const Message& m) {
    std::lock_guard lock(mu_);
    buf_.clear();
    encode(m, buf_);
    Enqueue(type);
  }

 private:
  void Enqueue(FrameType type);  // buf_ holds the payload; mu_ held
  void WriteQueued();            // mu_ held
  void FlushLater();

  ByteStream& out_;
  std::mutex mu_;
  std::string buf_;
  std::string queued_;  // whole frames
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread flusher_;  // started by the first Queue
};

}  // namespace ktsync
