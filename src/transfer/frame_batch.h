// FrameBatch: packs many frames into one reused buffer and hands it to the stream in large
// writes, so small files do not become one tiny TLS record (or one send()) per frame, and
// file bytes are read straight into the buffer behind their header (no second copy).
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "transfer/stream.h"
#include "transfer/wire.h"

namespace ktsync {

class FrameBatch {
 public:
  static constexpr size_t kCapacity = 512 * 1024;

  explicit FrameBatch(ByteStream* stream);
  void Rebind(ByteStream* stream) { stream_ = stream; }

  void Add(FrameType type, std::string_view payload);
  // Room for up to `max` payload bytes of a FileData frame; returns where to put them and
  // how many fit (≥ 1). Call CommitData with the count actually filled (0 cancels).
  char* ReserveData(size_t max, size_t* room);
  void CommitData(size_t filled);
  void Flush();
  uint64_t bytes_written() const { return written_; }

 private:
  ByteStream* stream_;
  std::unique_ptr<char[]> buf_;
  size_t used_ = 0;
  size_t reserved_at_ = 0;
  uint64_t written_ = 0;
};

}  // namespace ktsync
