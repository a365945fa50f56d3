// The judgements on a source file read while it may change (apply/source_read.h).
#include "apply/source_read.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

Entry Listed() {
  Entry e;
  e.path = "log";
  e.dev = 1;
  e.ino = 2;
  e.size = 100;
  e.mtime = {50, 7};
  e.hash = Hash128{3, 4};
  return e;
}

SourceState Now(uint64_t size = 100, Timestamp mtime = {50, 7}, Timestamp ctime = {50, 7}) {
  return {true, 1, 2, size, mtime, ctime};
}

TEST(JudgeOpen, AsListedWhenSizeAndMtimeMatch) {
  EXPECT_EQ(JudgeOpen(Listed(), Now(100, {50, 7}, {60, 0}), false), OpenVerdict::AsListed);  // ctime: chmod
}

TEST(JudgeOpen, ChangedSinceTheScanIsRestatedOrSkipped) {
  EXPECT_EQ(JudgeOpen(Listed(), Now(120), false), OpenVerdict::Restated);
  EXPECT_EQ(JudgeOpen(Listed(), Now(100, {50, 8}), false), OpenVerdict::Restated);
  EXPECT_EQ(JudgeOpen(Listed(), Now(120), true), OpenVerdict::Changed);
}

TEST(JudgeOpen, AnotherInodeOrTypeIsReplaced) {
  SourceState s = Now();
  s.ino = 9;
  EXPECT_EQ(JudgeOpen(Listed(), s, false), OpenVerdict::Replaced);
  s = Now();
  s.dev = 9;
  EXPECT_EQ(JudgeOpen(Listed(), s, false), OpenVerdict::Replaced);
  s = Now();
  s.regular = false;
  EXPECT_EQ(JudgeOpen(Listed(), s, false), OpenVerdict::Replaced);
  Entry no_inode = Listed();
  no_inode.ino = 0;
  s = Now();
  s.ino = 9;
  EXPECT_EQ(JudgeOpen(no_inode, s, false), OpenVerdict::AsListed);
}

TEST(JudgeRead, ConsistentOnlyWhenEveryByteCameAndNothingMoved) {
  EXPECT_EQ(JudgeRead(Now(), Now(), 100, 1, false), ReadVerdict::Consistent);
  EXPECT_EQ(JudgeRead(Now(), Now(), 100, kMaxReadAttempts, true), ReadVerdict::Consistent);
  EXPECT_EQ(JudgeRead(Now(), Now(100, {50, 7}, {51, 0}), 100, 1, false), ReadVerdict::Retry);  // ctime moved
  EXPECT_EQ(JudgeRead(Now(), Now(100, {50, 9}), 100, 1, false), ReadVerdict::Retry);            // mtime moved
  EXPECT_EQ(JudgeRead(Now(), Now(130), 100, 1, false), ReadVerdict::Retry);                     // grew
  EXPECT_EQ(JudgeRead(Now(), Now(), 90, 1, false), ReadVerdict::Retry);                          // short read
}

TEST(JudgeRead, RetriesAreBoundedThenAFullReadIsKeptAndAShortOneDropped) {
  for (int attempt = 1; attempt < kMaxReadAttempts; ++attempt)
    EXPECT_EQ(JudgeRead(Now(), Now(130), 100, attempt, false), ReadVerdict::Retry) << attempt;
  EXPECT_EQ(JudgeRead(Now(), Now(130), 100, kMaxReadAttempts, false), ReadVerdict::KeptChanged);
  EXPECT_EQ(JudgeRead(Now(), Now(60), 60, kMaxReadAttempts, false), ReadVerdict::Dropped);
}

TEST(JudgeRead, SkippingChangingFilesNeverRetriesNorKeeps) {
  EXPECT_EQ(JudgeRead(Now(), Now(130), 100, 1, true), ReadVerdict::Dropped);
}

TEST(AsRead, RestatesSizeAndMtimeAndForgetsTheListedHash) {
  Entry same = AsRead(Listed(), Now(100, {50, 7}, {99, 0}));
  EXPECT_EQ(same.hash, Listed().hash);
  EXPECT_EQ(same.mtime, Listed().mtime);
  Entry grown = AsRead(Listed(), Now(130, {55, 1}));
  EXPECT_EQ(grown.size, 130u);
  EXPECT_EQ(grown.mtime, (Timestamp{55, 1}));
  EXPECT_FALSE(grown.hash);
  EXPECT_EQ(grown.path, "log");
}

TEST(SourceState, IdentityKeysTheHashCacheOnWhatWasRead) {
  FileIdentity id = Now(130, {55, 1}, {56, 2}).Identity();
  EXPECT_EQ(id, (FileIdentity{1, 2, 130, Timestamp{55, 1}.KeyNs(), Timestamp{56, 2}.KeyNs()}));
}

}  // namespace
}  // namespace ktsync
