// links: ktsync_util
// Problems (util/problems.h): bounded by count and bytes, its verdicts exact.
#include "util/problems.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

TEST(Problems, EmptyIsOk) {
  Problems p;
  EXPECT_FALSE(p.HasErrors());
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Ok);
  EXPECT_TRUE(p.Snapshot().empty());
  EXPECT_EQ(p.Count(), 0u);
}

TEST(Problems, VanishedOnlyIs24AnyFailureIs23) {
  Problems p;
  p.Vanish("a", "a vanished");
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Vanished);
  p.Fail("b", "b failed");
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Partial);
  EXPECT_EQ(p.Snapshot().size(), 2u);
}

// A daemon's client can make it refuse millions of entries: what is kept stops at the count
// cap, the rest are counted, and the snapshot ends with one line saying how many.
TEST(Problems, KeepsAtMostTheCountCapAndCountsTheRest) {
  Problems p;
  for (size_t i = 0; i < Problems::kMaxKept + 7; ++i) p.Vanish("x", "gone");
  std::vector<Problem> s = p.Snapshot();
  ASSERT_EQ(s.size(), Problems::kMaxKept + 1);
  EXPECT_EQ(s.back().kind, ProblemKind::Vanished);  // only vanished ones were dropped
  EXPECT_NE(s.back().message.find("7 more problems"), std::string::npos) << s.back().message;
  EXPECT_EQ(p.Count(), Problems::kMaxKept + 7);
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Vanished);
}

TEST(Problems, KeepsAtMostTheByteCap) {
  Problems p;
  const std::string path(4096, 'p'), message(4096, 'm');
  const size_t fit = Problems::kMaxKeptBytes / (path.size() + message.size());
  for (size_t i = 0; i < fit + 3; ++i) p.Vanish(path, message);
  std::vector<Problem> s = p.Snapshot();
  ASSERT_EQ(s.size(), fit + 1);
  EXPECT_NE(s.back().message.find("3 more problems"), std::string::npos) << s.back().message;
  p.Vanish("", "a short one still counts as more");  // no room left: counted, not kept
  EXPECT_EQ(p.Snapshot().size(), fit + 1);
  EXPECT_EQ(p.Count(), fit + 4);
}

// A failure that was not kept still makes exit 23 and still shuts the deletion gate.
TEST(Problems, ADroppedFailureStillCounts) {
  Problems p;
  for (size_t i = 0; i < Problems::kMaxKept; ++i) p.Vanish("x", "gone");
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Vanished);
  p.Fail("y", "refused");
  EXPECT_TRUE(p.HasErrors());
  EXPECT_EQ(p.ExitCodeFor(), ExitCode::Partial);
  std::vector<Problem> s = p.Snapshot();
  ASSERT_EQ(s.size(), Problems::kMaxKept + 1);
  EXPECT_EQ(s.back().kind, ProblemKind::Failed);
  EXPECT_NE(s.back().message.find("1 more problems"), std::string::npos) << s.back().message;
}

// Merging keeps the other list's count and verdict exact, dropped ones included.
TEST(Problems, AddAllCarriesTheCountedOnes) {
  Problems full;
  for (size_t i = 0; i < Problems::kMaxKept + 10; ++i) full.Vanish("x", "gone");
  Problems into;
  into.AddAll(full);
  EXPECT_EQ(into.Count(), Problems::kMaxKept + 10);
  EXPECT_EQ(into.ExitCodeFor(), ExitCode::Vanished);
  Problems as_failures;
  as_failures.AddAll(full, /*as_failures=*/true);
  EXPECT_EQ(as_failures.Count(), Problems::kMaxKept + 10);
  EXPECT_EQ(as_failures.ExitCodeFor(), ExitCode::Partial);
  EXPECT_EQ(as_failures.Snapshot().back().kind, ProblemKind::Failed);
}

}  // namespace
}  // namespace ktsync
