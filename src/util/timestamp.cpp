#include "util/timestamp.h"

#include <utility>

namespace ktsync {

Timestamp Timestamp::FromNs(int64_t ns) {
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {  // before 1970: the nanoseconds still count forward within the second
    rem += 1'000'000'000;
    --sec;
  }
  return {sec, static_cast<uint32_t>(rem)};
}

bool WithinNs(Timestamp a, Timestamp b, int64_t tolerance_ns) {
  if (a < b) std::swap(a, b);
  // a >= b: the difference in seconds is exact as unsigned even across the int64 range.
  uint64_t dsec = static_cast<uint64_t>(a.sec) - static_cast<uint64_t>(b.sec);
  if (dsec > static_cast<uint64_t>(INT64_MAX / 1'000'000'000) - 1) return false;  // beyond any tolerance
  int64_t diff = static_cast<int64_t>(dsec) * 1'000'000'000 + static_cast<int64_t>(a.nsec) - static_cast<int64_t>(b.nsec);
  return diff <= tolerance_ns;
}

}  // namespace ktsync
