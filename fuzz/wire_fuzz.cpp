// Feeds arbitrary bytes to every wire decoder, and to a FrameReader over an in-memory
// stream. The only acceptable failure is a thrown ktsync::Error; ASan/UBSan catch the rest.
// Messages that do decode must re-encode to the very same bytes (each message has exactly
// one encoding), otherwise the fuzzer aborts.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "transfer/compression.h"
#include "transfer/stream.h"
#include "transfer/wire.h"

namespace ktsync {
namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

// Reads its bytes back in small uneven pieces, the way a socket might deliver them.
class MemoryStream : public ByteStream {
 public:
  explicit MemoryStream(std::string_view data) : ByteStream("fuzz"), data_(data) {}
  void WriteAll(const void*, size_t) override {}
  void WriteV(const struct iovec*, int) override {}
  void ShutdownWrite() override {}
  void ShutdownRead() override {}
  size_t ReadSome(void* buf, size_t len) override {
    size_t n = std::min({len, data_.size(), size_t{1} + (step_++ * 37) % 4099});
    std::memcpy(buf, data_.data(), n);
    data_.remove_prefix(n);
    return n;
  }

 private:
  std::string_view data_;
  size_t step_ = 0;
};

void DecodeOne(FrameType type, std::string_view in, ManifestDecoder& decoder) {
  std::string out;
  switch (type) {
    case FrameType::Hello: {
      Hello h = DecodeHello(in);
      EncodeHello(h, out);
      Require(out == in);
      Negotiate(Hello{}, h);
      break;
    }
    case FrameType::ManifestBatch: {
      int64_t before = decoder.count();
      EntryBatch b;
      decoder.Decode(in, b);
      Require(b.first == before && decoder.count() == before + static_cast<int64_t>(b.entries.size()));
      Require(EncodeEntryBatch(b.entries, out) == b.entries.size() && out == in);
      break;
    }
    case FrameType::HashRequest:
    case FrameType::SendList: {
      std::vector<int64_t> v;
      DecodeIndexList(in, v);
      Require(EncodeIndexList(v, out) == v.size() && out == in);
      break;
    }
    case FrameType::HashReply: {
      std::vector<HashReplyItem> v;
      DecodeHashReply(in, v);
      Require(EncodeHashReply(v, out) == v.size() && out == in);
      break;
    }
    case FrameType::Credit:
      EncodeCredit(DecodeCredit(in), out);
      Require(out == in);
      break;
    case FrameType::Item:
      EncodeItem(DecodeItem(in), out);
      Require(out == in);
      break;
    case FrameType::FileBegin:
      EncodeFileBegin(DecodeFileBegin(in), out);
      Require(out == in);
      break;
    case FrameType::FileEnd:
      EncodeFileEnd(DecodeFileEnd(in), out);
      Require(out == in);
      break;
    case FrameType::FileHole:
      EncodeFileHole(DecodeFileHole(in), out);
      Require(out == in);
      break;
    case FrameType::DataHello:
      EncodeDataHello(DecodeDataHello(in), out);
      Require(out == in);
      break;
    case FrameType::Error: {
      ErrorMessage m = DecodeError(in);  // control bytes are rewritten: not byte-identical
      EncodeError(m, out);
      Require(DecodeError(out) == m);
      break;
    }
    case FrameType::Result: {
      Stats s = DecodeStats(in);  // keys may arrive unsorted: compare decoded values
      EncodeStats(s, out);
      Require(DecodeStats(out) == s);
      break;
    }
    case FrameType::Done:
    case FrameType::Keepalive:
      ExpectEmptyPayload(type, in);
      break;
    case FrameType::FileList: {
      // A fresh decoder per frame: order across frames is the unit tests' (file_list_test).
      std::vector<ListedPath> v;
      FileListDecoder().Decode(in, v);
      Require(EncodeFileListBatch(v, out) == v.size() && out == in);
      break;
    }
    case FrameType::FileListEnd:  // a count; checked against what came (wire_test)
      break;
    case FrameType::FileDataZ: {
      // Whatever decodes must be at most the announced length and survive a round trip.
      std::string raw(ChunkDecompressor().Decompress(in));
      Require(raw.size() <= kMaxFramePayload);
      ChunkCompressor c(1);
      if (raw.size() <= kCompressChunk)
        if (std::optional<std::string_view> packed = c.Compress(raw)) Require(ChunkDecompressor().Decompress(*packed) == raw);
      break;
    }
    case FrameType::ManifestEnd:  // counts; checked by the channels
    case FrameType::Request:      // session payloads: fuzzed by session_fuzz
    case FrameType::Ready:
    case FrameType::Report:
    case FrameType::DataRoute:
    case FrameType::FileData:
      break;  // opaque here
  }
}

}  // namespace
}  // namespace ktsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ktsync;
  if (size < 1) return 0;
  // Byte 0 picks the decoder (or the frame-stream mode); with its top bit the manifest
  // decoder has seen a root already.
  uint8_t selector = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  ManifestDecoder decoder;
  if (selector & 0x80) {
    std::string root;
    Entry e{.path = "", .mode = 0755, .type = EntryType::Dir};
    EncodeEntryBatch(std::span<const Entry>(&e, 1), root);
    EntryBatch b;
    decoder.Decode(root, b);
  }
  try {
    if ((selector & 0x7f) == 0x7f) {
      // A whole session's worth of frames: each payload goes to the decoder of its type.
      MemoryStream stream(in);
      FrameReader reader(stream);
      while (std::optional<Frame> f = reader.Next()) DecodeOne(f->type, f->payload, decoder);
    } else if ((selector & 0x7f) == 0x7e) {
      if (in.size() >= kFrameHeaderBytes) DecodeFrameHeader(reinterpret_cast<const unsigned char*>(in.data()));
    } else {
      // Every type up to the last (Keepalive); 7 and 8 are unknown and decode nothing.
      DecodeOne(static_cast<FrameType>(1 + (selector & 0x7f) % static_cast<int>(FrameType::Keepalive)), in, decoder);
    }
  } catch (const Error&) {
    // the expected outcome for malformed input
  }
  return 0;
}
