// links: ktsync_util
// File times over the whole 64-bit range: before 1970, after 2262, and the tolerance
// comparison that must not overflow on hostile values.
#include "util/timestamp.h"

#include <gtest/gtest.h>

#include <climits>

namespace ktsync {
namespace {

TEST(Timestamp, NanosecondsBefore1970CountForwardWithinTheSecond) {
  EXPECT_EQ(Timestamp::FromNs(-5), (Timestamp{-1, 999'999'995}));
  EXPECT_EQ(Timestamp::FromNs(1'500'000'000), (Timestamp{1, 500'000'000}));
  EXPECT_EQ(Timestamp::FromNs(-5).KeyNs(), -5);
}

TEST(Timestamp, TimesAfter2262KeepTheirOrderAndSurviveTheRoundTrip) {
  Timestamp y2262{9'223'372'036, 854'775'807};  // the last one an int64 of ns could hold
  Timestamp y3000{32'503'680'000, 1};
  EXPECT_LT(y2262, y3000);
  timespec ts = y3000.ToTimespec();
  EXPECT_EQ(Timestamp::Of(ts), y3000);
  EXPECT_NE(y3000.KeyNs(), y2262.KeyNs());  // a key, wrapping, still tells them apart
}

TEST(Timestamp, WithinNsIsExactAndNeverOverflows) {
  EXPECT_TRUE(WithinNs({10, 0}, {10, 0}, 0));
  EXPECT_FALSE(WithinNs({10, 1}, {10, 0}, 0));
  EXPECT_TRUE(WithinNs({10, 999'999'999}, {11, 0}, 1));
  EXPECT_TRUE(WithinNs({11, 0}, {10, 999'999'999}, 1));
  EXPECT_FALSE(WithinNs({12, 0}, {10, 0}, 1'999'999'999));
  EXPECT_TRUE(WithinNs({12, 0}, {10, 0}, 2'000'000'000));
  EXPECT_FALSE(WithinNs({INT64_MAX, 999'999'999}, {INT64_MIN, 0}, INT64_MAX));
  EXPECT_FALSE(WithinNs({INT64_MIN, 0}, {INT64_MAX, 0}, INT64_MAX));
  EXPECT_FALSE(WithinNs({5, 0}, {5, 0}, -1));  // a negative tolerance admits nothing
}

}  // namespace
}  // namespace ktsync
