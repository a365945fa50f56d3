// links: ktsync_transfer
// Admission: who may try to authenticate with a daemon. Values in, verdicts out; no sockets.
#include "transfer/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ktsync {
namespace {

using namespace std::chrono_literals;
const Admission::Clock::time_point t0{};

Admission::Limits Small() {
  Admission::Limits l;
  l.total = 4;
  l.per_address = 2;
  l.failures = 3;
  l.window = 60s;
  l.penalty = 30s;
  l.remembered = 8;
  return l;
}

TEST(Admission, OneAddressHoldsAtMostItsShare) {
  Admission a(Small());
  EXPECT_TRUE(a.Arrive("10.0.0.1", t0).admitted);
  EXPECT_TRUE(a.Arrive("10.0.0.1", t0).admitted);
  Admission::Verdict third = a.Arrive("10.0.0.1", t0);
  EXPECT_FALSE(third.admitted);
  EXPECT_NE(third.why.find("10.0.0.1 already has 2"), std::string::npos) << third.why;
  EXPECT_TRUE(a.Arrive("10.0.0.2", t0).admitted) << "another address is not affected";
}

TEST(Admission, WhenFullTheOldestOfTheGreediestAddressMakesRoom) {
  Admission a(Small());
  uint64_t oldest = a.Arrive("10.0.0.1", t0).id;
  a.Arrive("10.0.0.1", t0 + 1s);
  a.Arrive("10.0.0.2", t0 + 2s);
  a.Arrive("10.0.0.3", t0 + 3s);
  Admission::Verdict v = a.Arrive("10.0.0.9", t0 + 4s);
  ASSERT_TRUE(v.admitted);
  ASSERT_TRUE(v.evict);
  EXPECT_EQ(*v.evict, oldest);
  EXPECT_EQ(a.pending(), 4u) << "the victim's slot went to the newcomer";
  a.Leave(oldest, Admission::Outcome::Failed, t0 + 4s);
  EXPECT_EQ(a.pending(), 4u) << "the victim's own Leave changes nothing";
  Admission::Verdict next = a.Arrive("10.0.0.8", t0 + 5s);
  ASSERT_TRUE(next.evict);
  EXPECT_NE(*next.evict, oldest) << "a connection is evicted once";
}

TEST(Admission, NoEvictionAmongEquals) {
  Admission a(Small());
  for (const char* addr : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) a.Arrive(addr, t0);
  Admission::Verdict v = a.Arrive("10.0.0.1", t0 + 1s);
  EXPECT_FALSE(v.admitted) << "10.0.0.1 would then hold more than the address it evicts";
  EXPECT_NE(v.why.find("taken by other addresses"), std::string::npos) << v.why;
  Admission::Verdict fresh = a.Arrive("10.0.0.5", t0 + 1s);
  EXPECT_TRUE(fresh.admitted);
  EXPECT_TRUE(fresh.evict) << "a newcomer with nothing evicts someone's oldest";
}

TEST(Admission, AmongEqualsTheOldestGoesWhateverItsAddressIsCalled) {
  Admission a(Small());
  std::vector<uint64_t> z;
  for (int i = 1; i <= 4; ++i) z.push_back(a.Arrive("z" + std::to_string(i), t0 + std::chrono::seconds(i)).id);
  Admission::Verdict real = a.Arrive("a-real-client", t0 + 5s);
  ASSERT_TRUE(real.admitted);
  EXPECT_EQ(real.evict, z[0]);
  Admission::Verdict next = a.Arrive("z5", t0 + 6s);
  ASSERT_TRUE(next.admitted);
  EXPECT_EQ(next.evict, z[1]) << "not the real client, whose address merely sorts first";
}

TEST(Admission, OurOwnFailureNeitherCountsNorForgives) {
  Admission a(Small());
  for (int i = 0; i < 2; ++i) a.Leave(a.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0);
  a.Leave(a.Arrive("10.0.0.1", t0).id, Admission::Outcome::Neither, t0);
  EXPECT_TRUE(a.Arrive("10.0.0.1", t0).admitted) << "Neither did not count as the third failure";
  a.Leave(a.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0);
  EXPECT_FALSE(a.Arrive("10.0.0.1", t0).admitted) << "nor did it forgive the first two";
}

TEST(Admission, RepeatedFailuresAreRefusedForThePenaltyAndSuccessForgives) {
  Admission a(Small());
  for (int i = 0; i < 3; ++i) a.Leave(a.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0 + 1s);
  Admission::Verdict v = a.Arrive("10.0.0.1", t0 + 2s);
  EXPECT_FALSE(v.admitted);
  EXPECT_NE(v.why.find("failed to authenticate 3 times"), std::string::npos) << v.why;
  EXPECT_TRUE(a.Arrive("10.0.0.2", t0 + 2s).admitted);
  EXPECT_TRUE(a.Arrive("10.0.0.1", t0 + 32s).admitted) << "after the penalty";

  Admission b(Small());
  for (int i = 0; i < 2; ++i) b.Leave(b.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0);
  b.Leave(b.Arrive("10.0.0.1", t0).id, Admission::Outcome::Authenticated, t0);
  b.Leave(b.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0);
  EXPECT_TRUE(b.Arrive("10.0.0.1", t0).admitted) << "a success cleared the earlier failures";
}

TEST(Admission, FailuresOutsideTheWindowDoNotAddUp) {
  Admission a(Small());
  for (int i = 0; i < 2; ++i) a.Leave(a.Arrive("10.0.0.1", t0).id, Admission::Outcome::Failed, t0);
  a.Leave(a.Arrive("10.0.0.1", t0 + 61s).id, Admission::Outcome::Failed, t0 + 61s);
  EXPECT_TRUE(a.Arrive("10.0.0.1", t0 + 62s).admitted);
}

TEST(Admission, TheFailureTableStaysBounded) {
  Admission a(Small());
  for (int i = 0; i < 100; ++i) {
    std::string addr = "10.0.1." + std::to_string(i);
    a.Leave(a.Arrive(addr, t0).id, Admission::Outcome::Failed, t0);
  }
  EXPECT_EQ(a.pending(), 0u);
  EXPECT_TRUE(a.Arrive("10.0.2.1", t0).admitted);
}

}  // namespace
}  // namespace ktsync
