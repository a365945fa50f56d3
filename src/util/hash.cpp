#include "util/hash.h"

#include <xxhash.h>

#include <cstdio>
#include <new>

namespace ktsync {

std::string Hash128::Hex() const {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Hasher::Hasher() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  Reset();
}

Hasher::~Hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

void Hasher::Reset() { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }

void Hasher::Update(const void* data, size_t len) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, len);
}

void Hasher::UpdateZeros(uint64_t len) {
  static const char kZeros[64 * 1024] = {};
  while (len > 0) {
    size_t n = len < sizeof kZeros ? static_cast<size_t>(len) : sizeof kZeros;
    Update(kZeros, n);
    len -= n;
  }
}

Hash128 Hasher::Digest() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return Hash128{h.low64, h.high64};
}

Hash128 HashBytes(const void* data, size_t len) {
  XXH128_hash_t h = XXH3_128bits(data, len);
  return Hash128{h.low64, h.high64};
}

}  // namespace ktsync
