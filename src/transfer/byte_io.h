// Little-endian byte encoding for the wire protocol.
//
// ByteReader is the only way bytes from a peer are parsed. Every read is bounds-checked and
// every length or count is checked against a cap (and against the bytes actually left)
// BEFORE anything is allocated, so hostile input can only end in
// Error(ExitCode::StreamData, "protocol error: ..."), never in an overrun or a huge allocation.
// ByteWriter appends to a caller-owned std::string so hot paths reuse one buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ktsync {

// Throws Error(ExitCode::StreamData, "protocol error: <what>").
[[noreturn]] void ThrowProtocolError(std::string_view what);

class ByteWriter {
 public:
  explicit ByteWriter(std::string& out) : out_(out) {}

  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Raw(const void* data, size_t len) { out_.append(static_cast<const char*>(data), len); }
  // Length-prefixed byte strings. The caller has checked the length against the protocol
  // cap; a string that does not fit its prefix at all is an internal error and throws.
  void Str8(std::string_view s);
  void Str16(std::string_view s);
  // Overwrites 4 bytes at `offset` (a count written as a placeholder before the items).
  void PatchU32(size_t offset, uint32_t v);

  size_t size() const { return out_.size(); }

 private:
  std::string& out_;
};

class ByteReader {
 public:
  // `context` names the message in errors ("ManifestBatch").
  ByteReader(std::string_view data, std::string_view context) : data_(data), context_(context) {}
  ByteReader(std::span<const uint8_t> data, std::string_view context)
      : data_(reinterpret_cast<const char*>(data.data()), data.size()), context_(context) {}

  uint8_t U8(std::string_view field);
  uint16_t U16(std::string_view field);
  uint32_t U32(std::string_view field);
  uint64_t U64(std::string_view field);
  int64_t I64(std::string_view field) { return static_cast<int64_t>(U64(field)); }
  std::string_view Raw(size_t len, std::string_view field);
  // Length-prefixed strings; a length above `cap` is rejected before the bytes are touched.
  std::string_view Str8(size_t cap, std::string_view field);
  std::string_view Str16(size_t cap, std::string_view field);
  // An item count: rejected when above `cap` or when `count * min_item_bytes` exceeds what
  // is left, so a caller may reserve(count) safely.
  uint32_t Count(uint32_t cap, size_t min_item_bytes, std::string_view field);

  size_t remaining() const { return data_.size() - pos_; }
  // Trailing bytes are an error: every message has exactly one encoding.
  void ExpectEnd() const;
  // "protocol error: <context>: <what>".
  [[noreturn]] void Fail(std::string_view what) const;

 private:
  const char* Take(size_t len, std::string_view field);

  std::string_view data_;
  size_t pos_ = 0;
  std::string_view context_;
};

}  // namespace ktsync
