// FrameSender: frames to the peer of a control channel from any thread, each one whole.
// Payloads are encoded under the lock into one reused buffer, with the wire.h encoders.
//
// Queue'd frames (a push server's Items: one per change, a million in a big run) may wait
// to go out together: until kQueuedBytes are waiting, kQueueDelay has passed since the
// first, or any other frame is sent (which they always precede). Over ssh, a write per
// tiny frame cost more than the change it reported.
//
// With KeepAlive, a Keepalive frame goes out whenever nothing else did for that long, so
// a peer that drops silent sessions (serve --idle-timeout) can tell a busy side (hashing a
// large file, scanning a huge directory) from a vanished one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
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
  // What every network run's control channels use: well below the shortest idle timeout
  // a daemon accepts (kMinIdleTimeout in daemon.h).
  static constexpr std::chrono::seconds kKeepaliveEvery{10};

  explicit FrameSender(ByteStream& out) : out_(out) {}
  // With keepalives from the start (see KeepAlive).
  FrameSender(ByteStream& out, std::chrono::milliseconds keepalive_every) : out_(out) { KeepAlive(keepalive_every); }
  ~FrameSender();  // drops what is still queued: the run's last frames flush it
  FrameSender(const FrameSender&) = delete;
  FrameSender& operator=(const FrameSender&) = delete;

  // From now on, a Keepalive whenever nothing was sent for `every`.
  void KeepAlive(std::chrono::milliseconds every);
  // The channel's last frame: `type`, then nothing more from this sender (no keepalive may
  // touch a stream its owner is about to close).
  void SendLast(FrameType type);

  template <class Message>
  void Send(FrameType type, void (*encode)(const Message&, std::string&), const Message& m) {
    std::lock_guard lock(mu_);
    WriteQueued();
    buf_.clear();
    encode(m, buf_);
    WriteFrame(type, buf_);
  }

  void SendEmpty(FrameType type) {
    std::lock_guard lock(mu_);
    WriteQueued();
    WriteFrame(type, {});
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
      WriteFrame(type, buf_);
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
  using Clock = std::chrono::steady_clock;
  void WriteFrame(FrameType type, std::string_view payload);  // mu_ held
  void Enqueue(FrameType type);  // buf_ holds the payload; mu_ held
  void WriteQueued();            // mu_ held
  void StartTicker();            // mu_ held
  void StopTicker();             // mu_ not held
  void Tick();

  ByteStream& out_;
  std::mutex mu_;
  std::string buf_;
  std::string queued_;  // whole frames
  std::condition_variable cv_;
  bool stop_ = false;
  Clock::time_point last_write_ = Clock::now();
  std::optional<std::chrono::milliseconds> keepalive_;
  std::thread ticker_;  // started by the first Queue or KeepAlive: flushes, keeps alive
};

}  // namespace ktsync
