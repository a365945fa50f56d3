#include "transfer/frame_sender.h"

namespace ktsync {

FrameSender::~FrameSender() { StopTicker(); }

void FrameSender::StopTicker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void FrameSender::SendLast(FrameType type) {
  SendEmpty(type);
  StopTicker();
}

void FrameSender::KeepAlive(std::chrono::milliseconds every) {
  std::lock_guard lock(mu_);
  keepalive_ = every;
  StartTicker();
  cv_.notify_all();
}

void FrameSender::WriteFrame(FrameType type, std::string_view payload) {
  FrameWriter(out_).Write(type, payload);
  last_write_ = Clock::now();
}

void FrameSender::Enqueue(FrameType type) {
  unsigned char header[kFrameHeaderBytes];
  EncodeFrameHeader(type, buf_.size(), header);
  bool first = queued_.empty();
  queued_.append(reinterpret_cast<const char*>(header), sizeof header);
  queued_ += buf_;
  if (queued_.size() >= kQueuedBytes) return WriteQueued();
  if (!first) return;
  StartTicker();
  cv_.notify_all();
}

// A failed write keeps the frames: the next Send fails on them too, and reports it.
void FrameSender::WriteQueued() {
  if (queued_.empty()) return;
  out_.WriteAll(queued_.data(), queued_.size());
  queued_.clear();
  last_write_ = Clock::now();
}

void FrameSender::StartTicker() {
  if (!ticker_.joinable()) ticker_ = std::thread([this] { Tick(); });
}

void FrameSender::Tick() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto woken = [&] { return stop_ || !queued_.empty(); };
    if (keepalive_) {
      cv_.wait_until(lock, last_write_ + *keepalive_, woken);
    } else {
      cv_.wait(lock, woken);
    }
    if (stop_) return;
    try {
      if (!queued_.empty()) {
        if (cv_.wait_for(lock, kQueueDelay, [&] { return stop_; })) return;
        WriteQueued();
      } else if (keepalive_ && Clock::now() >= last_write_ + *keepalive_) {
        WriteFrame(FrameType::Keepalive, {});
      }
    } catch (...) {  // the next Send reports it
      if (keepalive_) return;  // and a dead channel needs no keepalives
    }
  }
}

}  // namespace ktsync
