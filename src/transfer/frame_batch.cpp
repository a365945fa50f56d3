#include "transfer/frame_batch.h"

#include <algorithm>
#include <cstring>

namespace ktsync {

FrameBatch::FrameBatch(ByteStream* stream)
    : stream_(stream), buf_(std::make_unique_for_overwrite<char[]>(kCapacity)) {}

void FrameBatch::Add(FrameType type, std::string_view payload) {
  size_t need = kFrameHeaderBytes + payload.size();
  if (used_ + need > kCapacity) Flush();
  if (need > kCapacity) {  // larger than the batch: header and payload go out directly
    unsigned char hdr[kFrameHeaderBytes];
    EncodeFrameHeader(type, payload.size(), hdr);
    iovec iov[2] = {{hdr, sizeof hdr}, {const_cast<char*>(payload.data()), payload.size()}};
    stream_->WriteV(iov, 2);
    written_ += need;
    return;
  }
  EncodeFrameHeader(type, payload.size(), reinterpret_cast<unsigned char*>(buf_.get() + used_));
  // An empty string_view may hold a null pointer, and memcpy from null is UB even for 0 bytes.
  if (!payload.empty()) std::memcpy(buf_.get() + used_ + kFrameHeaderBytes, payload.data(), payload.size());
  used_ += need;
}

char* FrameBatch::ReserveData(size_t max, size_t* room) {
  // Keep at least 64 KiB of payload per data frame unless the file is smaller.
  size_t want = std::min<size_t>(max, 64 * 1024);
  if (used_ + kFrameHeaderBytes + want > kCapacity) Flush();
  reserved_at_ = used_;
  *room = std::min(max, kCapacity - used_ - kFrameHeaderBytes);
  return buf_.get() + used_ + kFrameHeaderBytes;
}

void FrameBatch::CommitData(size_t filled) {
  if (filled == 0) return;
  EncodeFrameHeader(FrameType::FileData, filled, reinterpret_cast<unsigned char*>(buf_.get() + reserved_at_));
  used_ = reserved_at_ + kFrameHeaderBytes + filled;
}

void FrameBatch::Flush() {
  if (used_ == 0) return;
  stream_->WriteAll(buf_.get(), used_);
  written_ += used_;
  used_ = 0;
}

}  // namespace ktsync
