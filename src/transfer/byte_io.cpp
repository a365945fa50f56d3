#include "transfer/byte_io.h"

#include <cstring>

#include "util/error.h"

namespace ktsync {

void ThrowProtocolError(std::string_view what) {
  throw Error(ExitCode::StreamData, "protocol error: " + std::string(what));
}

void ByteWriter::U16(uint16_t v) {
  U8(static_cast<uint8_t>(v));
  U8(static_cast<uint8_t>(v >> 8));
}

void ByteWriter::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::U64(uint64_t v) {
  for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteWriter::Str8(std::string_view s) {
  if (s.size() > UINT8_MAX) ThrowProtocolError("cannot encode a " + std::to_string(s.size()) + "-byte short string");
  U8(static_cast<uint8_t>(s.size()));
  Raw(s.data(), s.size());
}

void ByteWriter::Str16(std::string_view s) {
  if (s.size() > UINT16_MAX) ThrowProtocolError("cannot encode a " + std::to_string(s.size()) + "-byte string");
  U16(static_cast<uint16_t>(s.size()));
  Raw(s.data(), s.size());
}

void ByteWriter::PatchU32(size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) out_[offset + i] = static_cast<char>(static_cast<uint8_t>(v >> (8 * i)));
}

void ByteReader::Fail(std::string_view what) const {
  ThrowProtocolError(std::string(context_) + ": " + std::string(what));
}

const char* ByteReader::Take(size_t len, std::string_view field) {
  if (len > remaining()) {
    Fail("truncated at " + std::string(field) + " (need " + std::to_string(len) + " bytes, " +
         std::to_string(remaining()) + " left)");
  }
  const char* p = data_.data() + pos_;
  pos_ += len;
  return p;
}

static uint64_t LoadLe(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint8_t ByteReader::U8(std::string_view field) { return static_cast<uint8_t>(*Take(1, field)); }
uint16_t ByteReader::U16(std::string_view field) { return static_cast<uint16_t>(LoadLe(Take(2, field), 2)); }
uint32_t ByteReader::U32(std::string_view field) { return static_cast<uint32_t>(LoadLe(Take(4, field), 4)); }
uint64_t ByteReader::U64(std::string_view field) { return LoadLe(Take(8, field), 8); }

std::string_view ByteReader::Raw(size_t len, std::string_view field) {
  return std::string_view(Take(len, field), len);
}

std::string_view ByteReader::Str8(size_t cap, std::string_view field) {
  size_t len = U8(field);
  if (len > cap) Fail(std::string(field) + " length " + std::to_string(len) + " exceeds limit " + std::to_string(cap));
  return Raw(len, field);
}

std::string_view ByteReader::Str16(size_t cap, std::string_view field) {
  size_t len = U16(field);
  if (len > cap) Fail(std::string(field) + " length " + std::to_string(len) + " exceeds limit " + std::to_string(cap));
  return Raw(len, field);
}

uint32_t ByteReader::Count(uint32_t cap, size_t min_item_bytes, std::string_view field) {
  uint32_t n = U32(field);
  if (n > cap) Fail(std::string(field) + " " + std::to_string(n) + " exceeds limit " + std::to_string(cap));
  // n <= cap (a few hundred thousand) and min_item_bytes is small: no overflow.
  if (static_cast<uint64_t>(n) * min_item_bytes > remaining()) {
    Fail(std::string(field) + " " + std::to_string(n) + " cannot fit in the " + std::to_string(remaining()) +
         " bytes left");
  }
  return n;
}

void ByteReader::ExpectEnd() const {
  if (remaining() != 0) Fail(std::to_string(remaining()) + " unexpected trailing bytes");
}

}  // namespace ktsync
