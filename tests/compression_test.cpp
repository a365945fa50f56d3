// links: ktsync_transfer
#include "transfer/compression.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "transfer/byte_io.h"
#include "transfer/wire.h"
#include "util/error.h"

#include "stream_pair.h"

namespace ktsync {
namespace {

std::string Text(size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; ++i) s += "line " + std::to_string(i) + " of a log that repeats itself\n";
  s.resize(n);
  return s;
}

std::string Noise(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(CompressionTest, TextRoundTripsSmaller) {
  ChunkCompressor c(3);
  ChunkDecompressor d;
  const std::string raw = Text(kCompressChunk);
  std::optional<std::string_view> packed = c.Compress(raw);
  ASSERT_TRUE(packed);
  EXPECT_LT(packed->size(), raw.size() / 4);
  EXPECT_EQ(d.Decompress(*packed), raw);
}

TEST(CompressionTest, NoiseIsNotWorthIt) {
  ChunkCompressor c(3);
  EXPECT_FALSE(c.Compress(Noise(kCompressChunk)));
}

std::string WithRawLength(uint32_t raw, std::string_view frame) {
  std::string out;
  ByteWriter(out).U32(raw);
  out.append(frame);
  return out;
}

TEST(CompressionTest, HostilePayloadsAreProtocolErrors) {
  ChunkCompressor c(1);
  ChunkDecompressor d;
  std::string text = Text(100000);
  std::optional<std::string_view> packed = c.Compress(text);
  ASSERT_TRUE(packed);
  std::string_view frame = packed->substr(4);
  ExpectError(ExitCode::StreamData, "raw length 0", [&] { d.Decompress(WithRawLength(0, frame)); });
  ExpectError(ExitCode::StreamData, "out of range", [&] { d.Decompress(WithRawLength(kMaxFramePayload + 1, frame)); });
  // More than announced: the output buffer stops it (a bomb cannot write past it).
  ExpectError(ExitCode::StreamData, "bad zstd frame", [&] { d.Decompress(WithRawLength(99999, frame)); });
  ExpectError(ExitCode::StreamData, "not the 100001 announced", [&] { d.Decompress(WithRawLength(100001, frame)); });
  ExpectError(ExitCode::StreamData, "bad zstd frame", [&] { d.Decompress(WithRawLength(10, "garbage")); });
  ExpectError(ExitCode::StreamData, "raw length", [&] { d.Decompress("ab"); });
}

TEST(CompressionTest, CompressedNamesAreSkippedWhateverTheirCase) {
  EXPECT_TRUE(LooksCompressed("photos/IMG_001.JPG"));
  EXPECT_TRUE(LooksCompressed("backup.tar.zst"));
  EXPECT_TRUE(LooksCompressed("a.7z"));
  EXPECT_FALSE(LooksCompressed("notes.txt"));
  EXPECT_FALSE(LooksCompressed("gz"));
  EXPECT_FALSE(LooksCompressed("dir.gz/file"));
  EXPECT_FALSE(LooksCompressed("Makefile"));
}

TEST(CompressionTest, TheGateBacksOffOnChunksThatDoNotShrinkAndReturnsOnOnesThatDo) {
  CompressGate g;
  auto tries_in = [&g](int chunks, bool shrink) {
    int tried = 0;
    for (int i = 0; i < chunks; ++i) {
      if (g.ShouldTry()) {
        ++tried;
        g.Tried(shrink);
      }
    }
    return tried;
  };
  EXPECT_EQ(tries_in(10, true), 10);
  // Tries chunks 0, 2, 5, 10, 19, 36, then every 65th from 69 on: 6 + 15 of 1000.
  EXPECT_EQ(tries_in(1000, false), 21);
  g.Tried(true);
  EXPECT_EQ(tries_in(5, true), 5);
}

}  // namespace
}  // namespace ktsync
