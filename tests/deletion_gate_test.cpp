// links: ktsync_mirror
// The deletion gate (mirror/deletion_gate.h): pure.
#include "mirror/deletion_gate.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

TEST(DeletionGate, DeletesWhenNothingWentWrong) {
  EXPECT_TRUE(DecideDeletions(false, 5, 10, {}).run());
}

// An unreadable source directory looks exactly like a deleted one.
TEST(DeletionGate, AnyProblemStopsEveryDeletion) {
  DeletionDecision d = DecideDeletions(true, 1, 10, {});
  EXPECT_EQ(d.verdict, DeletionDecision::SkipErrors);
}

TEST(DeletionGate, DeleteOnErrorDeletesAnyway) {
  DeleteLimits l;
  l.delete_on_error = true;
  EXPECT_TRUE(DecideDeletions(true, 1, 10, l).run());
}

TEST(DeletionGate, NothingToDeleteIsNeverRefused) {
  DeleteLimits l;
  l.max_delete = 0;
  EXPECT_TRUE(DecideDeletions(true, 0, 10, l).run());
}

TEST(DeletionGate, MaxDeleteRefusesMoreThanItsLimitAndSaysWhy) {
  DeleteLimits l;
  l.max_delete = 3;
  EXPECT_TRUE(DecideDeletions(false, 3, 100, l).run());
  DeletionDecision d = DecideDeletions(false, 4, 100, l);
  EXPECT_EQ(d.verdict, DeletionDecision::SkipLimit);
  EXPECT_EQ(d.message, "4 entries would be deleted, more than --max-delete 3");
}

// The root is never deleted, so it does not count in DST's entries.
TEST(DeletionGate, MaxDeletePercentIsOfDestinationEntriesBesidesTheRoot) {
  DeleteLimits l;
  l.max_delete_percent = 50;
  EXPECT_TRUE(DecideDeletions(false, 5, 11, l).run());
  DeletionDecision d = DecideDeletions(false, 6, 11, l);
  EXPECT_EQ(d.verdict, DeletionDecision::SkipLimit);
  EXPECT_NE(d.message.find("6 of 10 entries in DST"), std::string::npos) << d.message;
}

// Errors decide first: the run's exit code is then 23/24, not 25.
TEST(DeletionGate, ErrorsDecideBeforeLimits) {
  DeleteLimits l;
  l.max_delete = 0;
  EXPECT_EQ(DecideDeletions(true, 9, 100, l).verdict, DeletionDecision::SkipErrors);
}

}  // namespace
}  // namespace ktsync
