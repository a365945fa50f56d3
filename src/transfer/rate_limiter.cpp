#include "transfer/rate_limiter.h"

#include <algorithm>
#include <thread>

namespace ktsync {

RateLimiter::RateLimiter(uint64_t bytes_per_sec)
    : rate_(bytes_per_sec),
      burst_(std::max(1.0, static_cast<double>(bytes_per_sec) / 8)),
      last_refill_(Clock::now()) {}

void RateLimiter::Acquire(size_t bytes) {
  if (rate_ == 0 || bytes == 0) return;
  double wait_seconds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Clock::time_point now = Clock::now();
    double elapsed = std::chrono::duration<double>(now - last_refill_).count();
    last_refill_ = now;
    tokens_ = std::min(burst_, tokens_ + elapsed * static_cast<double>(rate_));
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return;
    wait_seconds = -tokens_ / static_cast<double>(rate_);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(wait_seconds));
}

}  // namespace ktsync
