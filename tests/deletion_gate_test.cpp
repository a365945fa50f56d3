// links: ktsync_mirror
// The deletion gate (mirror/deletion_gate.h): pure.
#include "mirror/deletion_gate.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

// A DST of `entries` (the root included) that ktsync mirrored into before: no first-mirror guard.
DestFacts Mirrored(uint64_t entries) { return {entries, true, "dst"}; }
DestFacts FirstMirror(uint64_t entries) { return {entries, false, "/home/u"}; }

TEST(DeletionGate, DeletesWhenNothingWentWrong) {
  EXPECT_TRUE(DecideDeletions(false, 5, Mirrored(10), {}).run());
}

// An unreadable source directory looks exactly like a deleted one.
TEST(DeletionGate, AnyProblemStopsEveryDeletion) {
  DeletionDecision d = DecideDeletions(true, 1, Mirrored(10), {});
  EXPECT_EQ(d.verdict, DeletionDecision::SkipErrors);
}

TEST(DeletionGate, DeleteOnErrorDeletesAnyway) {
  DeleteLimits l;
  l.delete_on_error = true;
  EXPECT_TRUE(DecideDeletions(true, 1, Mirrored(10), l).run());
}

TEST(DeletionGate, NothingToDeleteIsNeverRefused) {
  DeleteLimits l;
  l.max_delete = 0;
  EXPECT_TRUE(DecideDeletions(true, 0, Mirrored(10), l).run());
}

TEST(DeletionGate, MaxDeleteRefusesMoreThanItsLimitAndSaysWhy) {
  DeleteLimits l;
  l.max_delete = 3;
  EXPECT_TRUE(DecideDeletions(false, 3, Mirrored(100), l).run());
  DeletionDecision d = DecideDeletions(false, 4, Mirrored(100), l);
  EXPECT_EQ(d.verdict, DeletionDecision::SkipLimit);
  EXPECT_EQ(d.message.rfind("4 entries would be deleted, more than --max-delete 3 (", 0), 0u) << d.message;
}

// The root is never deleted, so it does not count in DST's entries.
TEST(DeletionGate, MaxDeletePercentIsOfDestinationEntriesBesidesTheRoot) {
  DeleteLimits l;
  l.max_delete_percent = 50;
  EXPECT_TRUE(DecideDeletions(false, 5, Mirrored(11), l).run());
  DeletionDecision d = DecideDeletions(false, 6, Mirrored(11), l);
  EXPECT_EQ(d.verdict, DeletionDecision::SkipLimit);
  EXPECT_NE(d.message.find("6 of 10 entries in DST"), std::string::npos) << d.message;
}

// Errors decide first: the run's exit code is then 23/24, not 25.
TEST(DeletionGate, ErrorsDecideBeforeLimits) {
  DeleteLimits l;
  l.max_delete = 0;
  EXPECT_EQ(DecideDeletions(true, 9, Mirrored(100), l).verdict, DeletionDecision::SkipErrors);
}

// rsync copies and skips the deletions; ktsync refuses the whole run, and says so.
TEST(DeletionGate, MaxDeleteRefusalSaysHowItDiffersFromRsyncAndWhatToDo) {
  DeleteLimits l;
  l.max_delete = 3;
  std::string m = DecideDeletions(false, 4, Mirrored(100), l).message;
  EXPECT_NE(m.find("rsync would copy and skip the deletions"), std::string::npos) << m;
  EXPECT_NE(m.find("ktsync refuses the whole run"), std::string::npos) << m;
  EXPECT_NE(m.find("ktsync copy"), std::string::npos) << m;
}

// `ktsync mirror ~/project ~`: most of a never-mirrored DST would go.
TEST(DeletionGate, FirstMirrorRefusesDeletingMostOfDestination) {
  DeletionDecision d = DecideDeletions(false, 90, FirstMirror(101), {});
  EXPECT_EQ(d.verdict, DeletionDecision::SkipLimit);
  EXPECT_EQ(d.message,
            "90 of the 100 entries in DST /home/u (90%) would be deleted, and ktsync has never mirrored into it "
            "(is DST the right path?): if it is, add --force-delete; to copy without deleting, use 'ktsync copy' "
            "or --no-delete");
}

TEST(DeletionGate, FirstMirrorAllowsAHandfulWhateverTheShare) {
  EXPECT_TRUE(DecideDeletions(false, kFirstMirrorHandful, FirstMirror(kFirstMirrorHandful + 1), {}).run());
  EXPECT_FALSE(DecideDeletions(false, kFirstMirrorHandful + 1, FirstMirror(kFirstMirrorHandful + 2), {}).run());
}

// Leftovers of an earlier copy (rsync, cp -a) are a small share: they go.
TEST(DeletionGate, FirstMirrorAllowsUpToHalfOfDestination) {
  EXPECT_TRUE(DecideDeletions(false, 50, FirstMirror(101), {}).run());
  EXPECT_FALSE(DecideDeletions(false, 51, FirstMirror(101), {}).run());
}

TEST(DeletionGate, ForceDeleteLiftsTheFirstMirrorGuard) {
  DeleteLimits l;
  l.force_delete = true;
  EXPECT_TRUE(DecideDeletions(false, 100, FirstMirror(101), l).run());
}

// --force-delete is about the first-mirror guard only: explicit limits still hold.
TEST(DeletionGate, ForceDeleteDoesNotLiftMaxDelete) {
  DeleteLimits l;
  l.force_delete = true;
  l.max_delete = 5;
  EXPECT_EQ(DecideDeletions(false, 100, FirstMirror(101), l).verdict, DeletionDecision::SkipLimit);
}

TEST(DeletionGate, MirroredBeforeHasNoFirstMirrorGuard) {
  EXPECT_TRUE(DecideDeletions(false, 100, Mirrored(101), {}).run());
}

// Errors skip every deletion first (exit 23/24), as for the other limits.
TEST(DeletionGate, ErrorsDecideBeforeTheFirstMirrorGuard) {
  EXPECT_EQ(DecideDeletions(true, 100, FirstMirror(101), {}).verdict, DeletionDecision::SkipErrors);
}

}  // namespace
}  // namespace ktsync
