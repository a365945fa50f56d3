// links: ktsync_util OpenSSL::Crypto
// The module source is compiled in directly (not via ktsync_transfer) to isolate this test
// from other src/transfer files while that library is in flux.
#include "../src/transfer/rate_limiter.cpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace ktsync {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Bounds are loose on purpose: these check that throttling happens at all, not its precision.
TEST(RateLimiter, ThrottlesToTheConfiguredRate) {
  RateLimiter limiter(4 << 20);
  auto start = steady_clock::now();
  for (int i = 0; i < 16; ++i) limiter.Acquire(64 << 10);  // 1 MiB at 4 MiB/s: ~250 ms
  auto elapsed = steady_clock::now() - start;
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_LT(elapsed, milliseconds(3000));
}

TEST(RateLimiter, SharesOneBudgetAcrossThreads) {
  RateLimiter limiter(4 << 20);
  auto start = steady_clock::now();
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t)
    senders.emplace_back([&] {
      for (int i = 0; i < 4; ++i) limiter.Acquire(64 << 10);  // 4 x 256 KiB = 1 MiB in total
    });
  for (std::thread& s : senders) s.join();
  EXPECT_GE(steady_clock::now() - start, milliseconds(200));
}

TEST(RateLimiter, ChunkLargerThanBurstIsPaidAsDebt) {
  RateLimiter limiter(1 << 20);
  auto start = steady_clock::now();
  limiter.Acquire(256 << 10);  // 1/4 s worth, twice the 1/8 s burst
  EXPECT_GE(steady_clock::now() - start, milliseconds(200));
}

TEST(RateLimiter, ZeroRateNeverWaits) {
  RateLimiter limiter(0);
  auto start = steady_clock::now();
  for (int i = 0; i < 1000; ++i) limiter.Acquire(1 << 30);
  EXPECT_LT(steady_clock::now() - start, milliseconds(100));
}

}  // namespace
}  // namespace ktsync
