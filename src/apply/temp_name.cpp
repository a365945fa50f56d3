#include "apply/temp_name.h"

#include <sys/random.h>

#include <cstdint>
#include <cstdio>
#include <random>

namespace ktsync {

namespace {

uint64_t SeedFromKernel() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    // getrandom only fails this early in boot or under seccomp; the clock is still enough to
    // avoid collisions, and O_EXCL keeps a guessed name harmless.
    seed = static_cast<uint64_t>(std::random_device{}()) << 32 ^ reinterpret_cast<uintptr_t>(&seed);
  }
  return seed;
}

}  // namespace

std::string MakeTempName() {
  // One kernel call per thread, not per file.
  thread_local std::mt19937_64 rng(SeedFromKernel());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(rng()));
  std::string name(kTempPrefix);
  name += hex;
  return name;
}

}  // namespace ktsync
