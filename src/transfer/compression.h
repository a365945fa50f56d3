// -z: file data compressed with zstd, chunk by chunk. Each FileDataZ payload is one chunk:
// its raw length (u32 LE, at most kMaxFramePayload) and one zstd frame that must decode to
// exactly that many bytes, so a chunk stands alone (no state shared across frames or
// streams) and a hostile one can cost at most its stated output.
//
// A chunk is sent compressed only when that saves at least 1/16 of it; already-compressed
// data goes as plain FileData. Two things keep the attempts cheap: names that say the data
// is compressed (rsync's --skip-compress list) are never tried, and CompressGate backs off
// inside a file whose chunks do not shrink.
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ktsync {

inline constexpr size_t kCompressChunk = 256 << 10;

class ChunkCompressor {
 public:
  explicit ChunkCompressor(int level);
  ~ChunkCompressor();
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;
  // The FileDataZ payload for `raw` (at most kCompressChunk bytes), in a buffer of this
  // object's valid until the next call; nullopt when it would not shrink enough.
  std::optional<std::string_view> Compress(std::string_view raw);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  int level_;
  std::unique_ptr<char[]> buf_;  // one chunk's worst case, allocated once (no zero-fill)
  size_t cap_ = 0;
};

class ChunkDecompressor {
 public:
  ChunkDecompressor();
  ~ChunkDecompressor();
  ChunkDecompressor(const ChunkDecompressor&) = delete;
  ChunkDecompressor& operator=(const ChunkDecompressor&) = delete;
  // The raw bytes of a FileDataZ payload, in a buffer of this object's (valid until the
  // next call). Anything malformed is a protocol error.
  std::string_view Decompress(std::string_view payload);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  std::unique_ptr<char[]> buf_;
};

// Which chunks of one file to try: all, until one does not shrink; then it skips 1, 2, 4 …
// up to 64 chunks before the next try, so an incompressible file costs a few attempts and a
// file that turns compressible midway is compressed again soon.
class CompressGate {
 public:
  bool ShouldTry() {
    if (skip_ == 0) return true;
    --skip_;
    return false;
  }
  void Tried(bool shrank) {
    backoff_ = shrank ? 0 : std::min<unsigned>(backoff_ ? backoff_ * 2 : 1, kMaxBackoff);
    skip_ = backoff_;
  }

 private:
  static constexpr unsigned kMaxBackoff = 64;
  unsigned backoff_ = 0;
  unsigned skip_ = 0;
};

// Whether a file name's suffix says its bytes are compressed already (jpg, zst, mp4, …).
bool LooksCompressed(std::string_view path);

}  // namespace ktsync
