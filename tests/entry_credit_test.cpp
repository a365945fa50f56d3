// links: ktsync_transfer
// The manifest stream's credit accounting (transfer/entry_credit.h): pure values, no I/O.
#include "transfer/entry_credit.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

// A file entry whose encoding is `bytes` long (mostly one attribute's value).
Entry Weighing(int64_t bytes, std::string path = "f") {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::File;
  int64_t bare = static_cast<int64_t>(EncodedEntryBytes(e));
  if (bytes > bare) e.set_xattrs({{"user.x", std::string(static_cast<size_t>(bytes - bare - 4 - 5 - 6), 'v')}});
  EXPECT_EQ(static_cast<int64_t>(EncodedEntryBytes(e)), bytes);
  return e;
}

constexpr int64_t kBig = 64 * 1024;  // an entry carrying a 64 KiB attribute

TEST(CreditGrantor, RefusesEntriesBeyondTheInitialCountOrBytes) {
  CreditGrantor counted;
  for (int64_t k = 0; k < kInitialCredit; ++k) ASSERT_TRUE(counted.Receive(40));
  EXPECT_FALSE(counted.Receive(40));

  CreditGrantor weighed;
  int64_t fit = kInitialByteCredit / kBig;
  for (int64_t k = 0; k < fit; ++k) ASSERT_TRUE(weighed.Receive(kBig));
  EXPECT_FALSE(weighed.Receive(1));  // 8 MiB exactly, not one byte more
  EXPECT_EQ(weighed.received(), fit);
}

TEST(CreditGrantor, GrantsAWindowPastTheReleasedEntriesAndTheirBytes) {
  CreditGrantor g;
  for (int k = 0; k < 100; ++k) ASSERT_TRUE(g.Receive(kBig));
  std::optional<Credit> c = g.Release(40);
  ASSERT_TRUE(c);  // 40 × 64 KiB is more than a quarter of the byte window
  EXPECT_EQ(*c, (Credit{40, 40 + CreditGrantor::kWindow, 40 * kBig + CreditGrantor::kByteWindow}));
  EXPECT_EQ(g.granted(), *c);
  EXPECT_FALSE(g.Release(40));  // nothing new
  EXPECT_FALSE(g.Release(30));  // never back
}

TEST(CreditGrantor, SmallReleasesWaitForAQuarterOfAWindow) {
  CreditGrantor g;
  for (int k = 0; k < 10000; ++k) ASSERT_TRUE(g.Receive(50));
  EXPECT_FALSE(g.Release(100));
  EXPECT_FALSE(g.Release(CreditGrantor::kWindow / 4 - 1));
  std::optional<Credit> c = g.Release(CreditGrantor::kWindow / 4);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->send_below, CreditGrantor::kWindow / 4 + CreditGrantor::kWindow);
  EXPECT_EQ(c->send_bytes_below, CreditGrantor::kWindow / 4 * 50 + CreditGrantor::kByteWindow);
}

// A source out of byte credit gets whatever a release frees: a quarter could be out of reach
// when the destination holds back entries it still needs.
TEST(CreditGrantor, AStarvedSourceGetsAnyRoom) {
  CreditGrantor g;
  EXPECT_FALSE(g.Starved());
  while (g.Receive(kBig)) {
  }
  EXPECT_TRUE(g.Starved());
  EXPECT_FALSE(g.Release(1));  // while planning: a grant per entry would be a frame per entry
  std::optional<Credit> c = g.Release(1, /*before_wait=*/true);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->send_bytes_below, kBig + CreditGrantor::kByteWindow);
  EXPECT_TRUE(g.Receive(kBig));
}

// Releases too small for a frame free room the grant does not show yet: a destination
// about to wait for a starved source grants it, though it releases nothing new then.
TEST(CreditGrantor, AWaitGrantsWhatEarlierReleasesFreed) {
  CreditGrantor g;
  while (g.Receive(kBig)) {
  }
  EXPECT_FALSE(g.Release(1));
  std::optional<Credit> c = g.Release(1, /*before_wait=*/true);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->release_below, 1);
  EXPECT_FALSE(g.Release(1, /*before_wait=*/true));  // nothing more to give
}

TEST(CreditGrantor, StarvedWhenTheEntryCreditIsUsedOrTheLargestEntryMightNotFit) {
  CreditGrantor entries;
  for (int64_t k = 0; k < kInitialCredit - 1; ++k) ASSERT_TRUE(entries.Receive(10));
  EXPECT_FALSE(entries.Starved());
  ASSERT_TRUE(entries.Receive(10));
  EXPECT_TRUE(entries.Starved());

  CreditGrantor bytes;
  ASSERT_TRUE(bytes.Receive(kInitialByteCredit - kMaxEncodedEntryBytes));
  EXPECT_FALSE(bytes.Starved());
  ASSERT_TRUE(bytes.Receive(1));
  EXPECT_TRUE(bytes.Starved());
}

TEST(CreditAllowance, SendsWhatFitsTheEntryAndByteCredit) {
  CreditAllowance a;
  std::vector<Entry> big(200, Weighing(kBig));
  size_t fit = a.Fits(big);
  EXPECT_EQ(static_cast<int64_t>(fit), kInitialByteCredit / kBig);
  for (size_t k = 0; k < fit; ++k) a.Sent(kBig);
  EXPECT_EQ(a.Fits(big), 0u);  // wait for a Credit

  CreditAllowance b;
  std::vector<Entry> small(static_cast<size_t>(kInitialCredit) + 5, Weighing(60));
  EXPECT_EQ(static_cast<int64_t>(b.Fits(small)), kInitialCredit);
}

// An entry beyond what any credit allows goes to the encoder, which refuses it by name:
// waiting for room would hang both ends.
TEST(CreditAllowance, LetsAnEntryTheWireCannotCarryThroughToBeRefused) {
  CreditAllowance a;
  std::vector<Entry> next{Weighing(kBig), Weighing(kMaxEncodedEntryBytes + 1), Weighing(kBig)};
  for (int k = 0; k < 100; ++k) a.Sent(kBig);  // 6.25 MiB of 8 used: the oversize one would not fit
  EXPECT_EQ(a.Fits(next), 2u);
}

TEST(CreditAllowance, TakesCreditsInTurnAndCapsWhatAPeerGrants) {
  CreditAllowance a;
  std::vector<Entry> big(400, Weighing(kBig));
  for (size_t k = 0, n = a.Fits(big); k < n; ++k) a.Sent(kBig);
  EXPECT_EQ(a.Take({10, 1'000'000'000, 1'000'000'000'000}), 10);
  // Released 10 entries: room up to 10 × 64 KiB + kMaxByteWindow, not the terabyte granted.
  int64_t room = (10 * kBig + CreditAllowance::kMaxByteWindow) / kBig - a.sent();
  EXPECT_EQ(static_cast<int64_t>(a.Fits(big)), room);
  EXPECT_THROW(a.Take({5, 1000, 0}), Error);              // back
  EXPECT_THROW(a.Take({a.sent() + 1, a.sent() + 1, 0}), Error);  // beyond what was sent
  EXPECT_EQ(a.Take({20, 0 + 20, 0}), 20);  // a smaller grant takes nothing back
  EXPECT_EQ(static_cast<int64_t>(a.Fits(big)), room);
}

TEST(ByteLedger, ReleasingTellsWhereTheReleasedEntriesEnded) {
  ByteLedger l;
  l.Append(10);
  l.Append(20);
  l.Append(30);
  EXPECT_EQ(l.bytes(), 60);
  EXPECT_EQ(l.ReleaseBelow(2), 30);
  EXPECT_EQ(l.released(), 2);
  EXPECT_EQ(l.count(), 3);
  EXPECT_EQ(l.ReleaseBelow(9), 60);  // not beyond what came
  EXPECT_EQ(l.count(), 3);
}

}  // namespace
}  // namespace ktsync
