// Timestamp: a file time as the kernel keeps it, seconds and nanoseconds, over the whole
// range of a 64-bit time_t. (A single int64 of nanoseconds ends in April 2262: later times
// overflowed, were written as 1901 and rewritten on every run.)
#pragma once

#include <linux/stat.h>
#include <time.h>

#include <compare>
#include <cstdint>

namespace ktsync {

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;  // 0 .. 999'999'999

  auto operator<=>(const Timestamp&) const = default;

  static Timestamp Of(const timespec& ts) {
    return {static_cast<int64_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec)};
  }
  static Timestamp Of(const struct statx_timestamp& ts) { return {ts.tv_sec, ts.tv_nsec}; }
  // Whole nanoseconds since the epoch, negative before 1970 (tests and small literals).
  static Timestamp FromNs(int64_t ns);
  timespec ToTimespec() const { return {static_cast<time_t>(sec), static_cast<long>(nsec)}; }

  // Nanoseconds since the epoch, wrapping (mod 2^64) beyond 2262: unique for any two times
  // less than 584 years apart, so a key for "has this file changed", never a time.
  int64_t KeyNs() const {
    return static_cast<int64_t>(static_cast<uint64_t>(sec) * 1'000'000'000u + nsec);
  }
};

// |a - b| <= tolerance_ns, exact over the whole range.
bool WithinNs(Timestamp a, Timestamp b, int64_t tolerance_ns);

}  // namespace ktsync
