#include "transfer/compression.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "transfer/byte_io.h"
#include "transfer/wire.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr size_t kRawLengthBytes = 4;

// The suffixes of rsync's default --skip-compress list.
constexpr auto kCompressedSuffixes = std::to_array<std::string_view>({
    "3g2", "3gp", "7z", "aac", "ace", "apk", "avi", "bz2", "deb", "dmg", "ear", "f4v", "flac", "flv", "gpg",
    "gz", "iso", "jar", "jpeg", "jpg", "lrz", "lz", "lz4", "lzma", "lzo", "m1a", "m1v", "m2a", "m2ts", "m2v",
    "m4a", "m4b", "m4p", "m4r", "m4v", "mka", "mkv", "mov", "mp1", "mp2", "mp3", "mp4", "mpa", "mpeg", "mpg",
    "mpv", "mts", "odb", "odf", "odg", "odi", "odm", "odp", "ods", "odt", "oga", "ogg", "ogm", "ogv", "ogx",
    "opus", "otg", "oth", "otp", "ots", "ott", "oxt", "png", "qt", "rar", "rpm", "rz", "rzip", "spx",
    "squashfs", "sxc", "sxd", "sxg", "sxm", "sxw", "sz", "tbz", "tbz2", "tgz", "tlz", "ts", "txz", "tzo",
    "vob", "war", "webm", "webp", "xz", "z", "zip", "zst",
});
static_assert(std::is_sorted(kCompressedSuffixes.begin(), kCompressedSuffixes.end()));

}  // namespace

struct ChunkCompressor::Ctx {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ~Ctx() { ZSTD_freeCCtx(c); }
};

ChunkCompressor::ChunkCompressor(int level)
    : ctx_(std::make_unique<Ctx>()), level_(level), cap_(kRawLengthBytes + ZSTD_compressBound(kCompressChunk)) {
  if (!ctx_->c) throw Error(ExitCode::FileIo, "zstd: cannot create a compression context (out of memory?)");
  buf_ = std::make_unique_for_overwrite<char[]>(cap_);
}

ChunkCompressor::~ChunkCompressor() = default;

std::optional<std::string_view> ChunkCompressor::Compress(std::string_view raw) {
  if (raw.size() > kCompressChunk) throw Error(ExitCode::FileIo, "internal error: compression chunk too large");
  size_t worth = raw.size() - raw.size() / 16;  // must save 1/16 to be worth the receiver's work
  size_t n = ZSTD_compressCCtx(ctx_->c, buf_.get() + kRawLengthBytes, cap_ - kRawLengthBytes, raw.data(), raw.size(),
                               level_);
  if (ZSTD_isError(n) || kRawLengthBytes + n > worth) return std::nullopt;
  std::string len;  // 4 bytes: no allocation
  ByteWriter(len).U32(static_cast<uint32_t>(raw.size()));
  std::memcpy(buf_.get(), len.data(), kRawLengthBytes);
  return std::string_view(buf_.get(), kRawLengthBytes + n);
}

struct ChunkDecompressor::Ctx {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~Ctx() { ZSTD_freeDCtx(d); }
};

ChunkDecompressor::ChunkDecompressor() : ctx_(std::make_unique<Ctx>()) {
  if (!ctx_->d) throw Error(ExitCode::FileIo, "zstd: cannot create a decompression context (out of memory?)");
}

ChunkDecompressor::~ChunkDecompressor() = default;

std::string_view ChunkDecompressor::Decompress(std::string_view payload) {
  ByteReader r(payload, "FileDataZ");
  uint32_t raw = r.U32("raw length");
  if (raw == 0 || raw > kMaxFramePayload) r.Fail("raw length " + std::to_string(raw) + " out of range");
  std::string_view frame = r.Raw(payload.size() - kRawLengthBytes, "zstd frame");
  if (!buf_) buf_ = std::make_unique_for_overwrite<char[]>(kMaxFramePayload);
  // The output buffer caps what a frame can make us write, whatever its header claims.
  size_t n = ZSTD_decompressDCtx(ctx_->d, buf_.get(), raw, frame.data(), frame.size());
  if (ZSTD_isError(n)) r.Fail(std::string("bad zstd frame: ") + ZSTD_getErrorName(n));
  if (n != raw) r.Fail("zstd frame holds " + std::to_string(n) + " bytes, not the " + std::to_string(raw) + " announced");
  return {buf_.get(), n};
}

bool LooksCompressed(std::string_view path) {
  size_t dot = path.rfind('.');
  size_t slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) return false;
  std::string suffix(path.substr(dot + 1));
  if (suffix.size() > 8) return false;
  std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::binary_search(kCompressedSuffixes.begin(), kCompressedSuffixes.end(), suffix);
}

}  // namespace ktsync
