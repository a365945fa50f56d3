// links: ktsync_mirror
// The Applier (mirror/applier.h) with a mover that only records: the order plan.h requires,
// whatever the mover is, without a filesystem.
#include "mirror/applier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Records what it is asked to do; files finish only when the test says so.
class FakeMover : public Mover {
 public:
  void Apply(const Action& a) override {
    if (a.entry.path == fail_path) throw Error(ExitCode::FileIo, a.entry.path + ": cannot");
    done.push_back(Name(a));
  }
  void Fetch(Action a, uint64_t seq, FileDoneSink& sink) override {
    fetched.push_back({std::move(a), seq, &sink});
  }
  // What a real mover's threads do on their own: every file asked for finishes.
  void Flush() override { FinishAll(); }
  void Drain() override { FinishAll(); }

  // The oldest fetched file is done (committed or not).
  void FinishOne(bool ok = true) {
    Fetched f = std::move(fetched.front());
    fetched.pop_front();
    if (ok) done.push_back(Name(f.action));
    f.sink->FileDone(f.seq, f.action, ok);
  }
  void FinishAll() {
    while (!fetched.empty()) FinishOne();
  }

  static std::string Name(const Action& a) {
    static const char* kNames[] = {"?", "remove", "mkdir", "send", "meta", "symlink", "special", "hardlink",
                                   "delete", "dirmeta"};
    return std::string(kNames[static_cast<int>(a.kind)]) + " " + (a.entry.path.empty() ? "." : a.entry.path);
  }

  struct Fetched {
    Action action;
    uint64_t seq;
    FileDoneSink* sink;
  };
  std::vector<std::string> done;
  std::deque<Fetched> fetched;
  std::string fail_path = "\x01 none";  // Apply of this path fails
};

class ItemLog : public RunObserver {
 public:
  void Warn(const std::string&) override {}
  bool WantsItems() const override { return true; }
  void Item(const ItemView& v) override { items.push_back(v.path); }
  std::vector<std::string> items;
};

Action Make(ActionKind kind, std::string path, EntryType type = EntryType::File) {
  Action a;
  a.kind = kind;
  a.entry.path = std::move(path);
  a.entry.type = type;
  a.entry.size = 10;
  return a;
}

class ApplierTest : public ::testing::Test {
 protected:
  FakeMover mover_;
  Problems problems_;
  ItemLog log_;
  TransferMeter meter_;
  Applier applier_{mover_, problems_, log_, &meter_, ""};
};

TEST_F(ApplierTest, ChangesOtherThanFileDataHappenAtOnceInPlanOrder) {
  applier_.Apply(Make(ActionKind::MkDir, "d", EntryType::Dir));
  applier_.Apply(Make(ActionKind::Symlink, "d/l", EntryType::Symlink));
  applier_.Apply(Make(ActionKind::MetaOnly, "m"));
  EXPECT_THAT(mover_.done, ElementsAre("mkdir d", "symlink d/l", "meta m"));
  EXPECT_EQ(applier_.counts().created_other, 2u);
  EXPECT_EQ(applier_.counts().meta_fixed, 1u);
}

// A link needs its leader's data; a directory's time must be set after its last child.
TEST_F(ApplierTest, HardLinksAndDirMetaWaitForEveryEarlierFile) {
  applier_.Apply(Make(ActionKind::SendFile, "d/a"));
  Action link = Make(ActionKind::HardLink, "d/b");
  link.leader = "d/a";
  applier_.Apply(link);
  applier_.Apply(Make(ActionKind::DirMeta, "d", EntryType::Dir));
  applier_.Apply(Make(ActionKind::MkDir, "e", EntryType::Dir));  // does not wait
  EXPECT_THAT(mover_.done, ElementsAre("mkdir e"));
  mover_.FinishOne();
  applier_.Apply(Make(ActionKind::Symlink, "f", EntryType::Symlink));  // runs what waited first
  EXPECT_THAT(mover_.done, ElementsAre("mkdir e", "send d/a", "hardlink d/b", "dirmeta d", "symlink f"));
}

TEST_F(ApplierTest, WhatWaitsKeepsItsOrderBehindAFileStillMoving) {
  applier_.Apply(Make(ActionKind::SendFile, "a"));
  applier_.Apply(Make(ActionKind::DirMeta, "x", EntryType::Dir));
  applier_.Apply(Make(ActionKind::SendFile, "b"));
  applier_.Apply(Make(ActionKind::DirMeta, "y", EntryType::Dir));
  mover_.FinishOne();  // a: x may go; y still waits for b
  applier_.Apply(Make(ActionKind::MkDir, "z", EntryType::Dir));
  EXPECT_THAT(mover_.done, ElementsAre("send a", "dirmeta x", "mkdir z"));
  applier_.Drain();
  EXPECT_THAT(mover_.done, ElementsAre("send a", "dirmeta x", "mkdir z", "send b", "dirmeta y"));
}

TEST_F(ApplierTest, ARetypedSubtreeIsRemovedDeepestFirstAtItsEnd) {
  applier_.Remove(Make(ActionKind::RemoveForType, "a", EntryType::Dir));
  applier_.Remove(Make(ActionKind::RemoveForType, "a/x"));
  applier_.Remove(Make(ActionKind::RemoveForType, "a/y", EntryType::Dir));
  applier_.Remove(Make(ActionKind::RemoveForType, "a/y/z"));
  EXPECT_THAT(mover_.done, IsEmpty());
  applier_.EndRemoval();
  applier_.Apply(Make(ActionKind::Symlink, "a", EntryType::Symlink));
  EXPECT_THAT(mover_.done, ElementsAre("remove a/y/z", "remove a/y", "remove a/x", "remove a", "symlink a"));
  EXPECT_EQ(applier_.counts().deleted, 4u);
}

TEST_F(ApplierTest, DeletionsWaitForTheGateThenGoDeepestFirstThenTheirDirectoriesTimes) {
  applier_.Delete(Make(ActionKind::Delete, "d", EntryType::Dir));
  applier_.Delete(Make(ActionKind::Delete, "d/x"));
  applier_.AfterDeletes(Make(ActionKind::DirMeta, "", EntryType::Dir));
  applier_.Apply(Make(ActionKind::SendFile, "new"));
  applier_.Drain();
  EXPECT_THAT(mover_.done, ElementsAre("send new"));
  applier_.Finish(DeletionDecision{});
  EXPECT_THAT(mover_.done, ElementsAre("send new", "delete d/x", "delete d", "dirmeta ."));
  EXPECT_FALSE(applier_.counts().deletes_skipped);
}

TEST_F(ApplierTest, AClosedGateSkipsDeletionsButStillSetsTheDirectoriesTimes) {
  applier_.Delete(Make(ActionKind::Delete, "x"));
  applier_.AfterDeletes(Make(ActionKind::DirMeta, "", EntryType::Dir));
  applier_.Drain();
  applier_.Finish(DeletionDecision{DeletionDecision::SkipErrors, ""});
  EXPECT_THAT(mover_.done, ElementsAre("dirmeta ."));
  EXPECT_TRUE(applier_.counts().deletes_skipped);
}

// Deletions and removals are spooled: far more than fit the spool's memory still replay in
// reverse (here through its temp file).
TEST_F(ApplierTest, ManyDeletionsReplayInReverseThroughTheSpool) {
  const int n = 40000;  // ~1.5 MB of spooled actions: beyond Spool::kMemoryBytes
  for (int i = 0; i < n; ++i) applier_.Delete(Make(ActionKind::Delete, "f" + std::to_string(1000000 + i)));
  applier_.Drain();
  applier_.Finish(DeletionDecision{});
  ASSERT_EQ(mover_.done.size(), static_cast<size_t>(n));
  EXPECT_EQ(mover_.done.front(), "delete f" + std::to_string(1000000 + n - 1));
  EXPECT_EQ(mover_.done.back(), "delete f1000000");
}

TEST_F(ApplierTest, AFailedChangeIsThatEntrysProblemAndTheRunGoesOn) {
  mover_.fail_path = "bad";
  applier_.Apply(Make(ActionKind::MkDir, "bad", EntryType::Dir));
  applier_.Apply(Make(ActionKind::MkDir, "good", EntryType::Dir));
  auto snap = problems_.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].path, "bad");
  EXPECT_THAT(mover_.done, ElementsAre("mkdir good"));
  EXPECT_THAT(log_.items, ElementsAre("good"));  // only what was done is reported
}

TEST_F(ApplierTest, FilesAreReportedAndCountedWhenDoneNotWhenAskedFor) {
  applier_.Apply(Make(ActionKind::SendFile, "a"));
  applier_.Apply(Make(ActionKind::SendFile, "b"));
  EXPECT_EQ(meter_.files_total, 2u);  // planned
  EXPECT_EQ(meter_.bytes_total, 20u);
  EXPECT_THAT(log_.items, IsEmpty());
  mover_.FinishOne(/*ok=*/false);
  mover_.FinishOne();
  EXPECT_THAT(log_.items, ElementsAre("b"));
  EXPECT_EQ(applier_.counts().files_written, 1u);
  EXPECT_EQ(meter_.files, 1u);
}

}  // namespace
}  // namespace ktsync
