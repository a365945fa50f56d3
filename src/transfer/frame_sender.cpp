#include "transfer/frame_sender.h"

namespace ktsync {

FrameSender::~FrameSender() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

void FrameSender::Enqueue(FrameType type) {
  unsigned char header[kFrameHeaderBytes];
  EncodeFrameHeader(type, buf_.size(), header);
  bool first = queued_.empty();
  queued_.append(reinterpret_cast<const char*>(header), sizeof header);
  queued_ += buf_;
  if (queued_.size() >= kQueuedBytes) return WriteQueued();
  if (!first) return;
  if (!flusher_.joinable()) flusher_ = std::thread([this] { FlushLater(); });
  cv_.notify_all();
}

// A failed write keeps the frames: the next Send fails on them too, and reports it.
void FrameSender::WriteQueued() {
  if (queued_.empty()) return;
  out_.WriteAll(queued_.data(), queued_.size());
  queued_.clear();
}

void FrameSender::FlushLater() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    cv_.wait(lock, [&] { return stop_ || !queued_.empty(); });
    if (cv_.wait_for(lock, kQueueDelay, [&] { return stop_; })) return;
    try {
      WriteQueued();
    } catch (...) {  // the next Send reports it
    }
  }
}

}  // namespace ktsync
