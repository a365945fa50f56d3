// Content hash: XXH3-128 of a file's bytes, computed while the bytes stream past (never a
// second read just to hash).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ktsync {

struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
  bool operator==(const Hash128&) const = default;
  std::string Hex() const;  // 32 lowercase hex digits, high half first (as xxhsum -H2)
};

// Streaming XXH3-128. Owns its XXH3 state; cheap to Reset() and reuse on the hot path.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;

  void Reset();
  void Update(const void* data, size_t len);
  void UpdateZeros(uint64_t len);  // as Update with `len` zero bytes (a hole of a sparse file)
  Hash128 Digest() const;

 private:
  void* state_;  // XXH3_state_t*, kept opaque so xxhash.h stays out of every includer
};

Hash128 HashBytes(const void* data, size_t len);

}  // namespace ktsync
