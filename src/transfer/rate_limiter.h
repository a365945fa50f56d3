// RateLimiter: the --bwlimit token bucket shared by all sender threads.
//
// Contract: Acquire(n) returns once n more bytes may be sent without the long-run average
// exceeding bytes_per_sec. The bucket starts empty (the limit holds from the first byte) and
// refills to at most 1/8 s worth of bytes while idle, so a pause buys only a short burst.
// A request larger than that burst is allowed and paid for as debt: the caller and the callers
// after it wait it out. Rate 0 means unlimited; Acquire is then a no-op without locking.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace ktsync {

class RateLimiter {
 public:
  explicit RateLimiter(uint64_t bytes_per_sec);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Thread-safe. Sleeps (without holding the lock) as long as needed.
  void Acquire(size_t bytes);

  uint64_t bytes_per_sec() const { return rate_; }

 private:
  using Clock = std::chrono::steady_clock;

  const uint64_t rate_;
  const double burst_;
  std::mutex mu_;
  double tokens_ = 0;  // bytes; negative = debt still to be waited out
  Clock::time_point last_refill_;
};

}  // namespace ktsync
