// links: ktsync_manifest
// Pure tests of the merge and the streaming planner (src/manifest/diff.h, plan.h): trees are
// built by hand, no filesystem. Expectations are in *execution order*, the order plan.h
// tells a mover to carry the sink's output out in.
#include "manifest/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "manifest/diff.h"
#include "util/error.h"

#include "plan_model.h"

namespace ktsync {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Entry Make(std::string path, EntryType type) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = type == EntryType::Dir ? 0755 : 0644;
  e.mtime = {1, 0};
  return e;
}
Entry Root() { return Make("", EntryType::Dir); }
Entry Dir(std::string p) { return Make(std::move(p), EntryType::Dir); }
Entry File(std::string p, uint64_t size = 10) {
  Entry e = Make(std::move(p), EntryType::File);
  e.size = size;
  return e;
}
Entry Link(std::string p, std::string target) {
  Entry e = Make(std::move(p), EntryType::Symlink);
  e.set_link_target(std::move(target));
  e.mode = 0777;
  return e;
}
Entry Special(std::string p, EntryType t, uint64_t rdev = 0) {
  Entry e = Make(std::move(p), t);
  e.set_rdev(rdev);
  return e;
}
Entry WithMtime(Entry e, int64_t m) { e.mtime = Timestamp::FromNs(m); return e; }
Entry WithMode(Entry e, uint32_t m) { e.mode = m; return e; }
Entry WithHash(Entry e, uint64_t h) { e.hash = Hash128{h, h}; return e; }
Entry WithIno(Entry e, uint64_t ino) { e.dev = 1; e.ino = ino; return e; }
// A SRC leader: a file with `links` names (the scan says so with nlink).
Entry Leads(Entry e, uint32_t links = 2) { e.nlink = links; return e; }
Entry WithLeader(Entry e, int64_t leader) { e.link_leader = leader; return e; }

const char* KindName(ActionKind k) {
  switch (k) {
    case ActionKind::RemoveForType: return "remove";
    case ActionKind::MkDir: return "mkdir";
    case ActionKind::SendFile: return "send";
    case ActionKind::MetaOnly: return "meta";
    case ActionKind::Symlink: return "symlink";
    case ActionKind::Special: return "special";
    case ActionKind::HardLink: return "hardlink";
    case ActionKind::Delete: return "delete";
    case ActionKind::DirMeta: return "dirmeta";
  }
  return "?";
}

// Hands out a manifest a few entries at a time, as scans and peers do.
class VectorSource : public EntrySource {
 public:
  explicit VectorSource(Manifest m, size_t batch = 2) : m_(std::move(m)), batch_(batch) {}
  bool NextBatch(EntryBatch& out) override {
    if (pos_ >= m_.size()) return false;
    size_t n = std::min(batch_, m_.size() - pos_);
    out.first = static_cast<int64_t>(pos_);
    out.entries.assign(m_.begin() + static_cast<long>(pos_), m_.begin() + static_cast<long>(pos_ + n));
    pos_ += n;
    return true;
  }

 private:
  Manifest m_;
  size_t batch_;
  size_t pos_ = 0;
};

// Carries the sink's output out the way plan.h says a mover must: removals deepest first at
// EndRemoval, deletions deepest first at the end (but for those kept), then the DirMeta
// that waited for them.
class ExecutionOrder : public PlanSink {
 public:
  void Apply(Action a) override { done_.push_back(std::move(a)); }
  void Remove(Action a) override { removals_.push_back(std::move(a)); }
  void EndRemoval() override {
    done_.insert(done_.end(), removals_.rbegin(), removals_.rend());
    removals_.clear();
  }
  void Delete(Action a) override { deletes_.push_back(std::move(a)); }
  void Keep(Action a) override {
    auto kept = std::ranges::find_if(deletes_, [&](const Action& d) { return d.entry.path == a.entry.path; });
    ASSERT_NE(kept, deletes_.end()) << "kept before its Delete: " << a.entry.path;
    deletes_.erase(kept);
  }
  void AfterDeletes(Action a) override { after_.push_back(std::move(a)); }

  size_t applied() const { return done_.size(); }
  size_t deletes() const { return deletes_.size(); }
  std::vector<Action> Executed() const {
    std::vector<Action> out = done_;
    out.insert(out.end(), deletes_.rbegin(), deletes_.rend());
    out.insert(out.end(), after_.begin(), after_.end());
    return out;
  }

 private:
  std::vector<Action> done_, removals_, deletes_, after_;
};

// Fills the hashes an undecided pair asked for (a test's stand-in for reading the files).
using HashFiller = std::function<void(Planner::HashNeeds&)>;

struct PlanRun {
  std::vector<Action> actions;  // execution order
  PlanTotals totals;
};

// The pipeline's loop (mirror/dest_half.cpp) without I/O.
PlanRun RunPlan(const Manifest& src, const Manifest& dst, const PlanOptions& opts = {}, const HashFiller& fill = {}) {
  VectorSource s(src), d(dst);
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner(opts, sink);
  auto resolve = [&] {
    Planner::HashNeeds needs = planner.TakeHashNeeds();
    if (fill) fill(needs);
    planner.Resolve();
  };
  EntryPair p;
  while (walk.Next(p)) {
    planner.Visit(std::move(p));
    if (planner.WantsHashes(walk.next_src_index())) resolve();
  }
  resolve();
  planner.Finish();
  return {sink.Executed(), planner.totals()};
}

// "kind path" per action, the root shown as ".".
std::vector<std::string> Ops(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const Action& a : actions) {
    const std::string& p = a.entry.path;
    out.push_back(std::string(KindName(a.kind)) + " " + (p.empty() ? "." : p));
  }
  return out;
}

std::vector<std::string> PlanOps(const Manifest& src, const Manifest& dst, const PlanOptions& opts = {},
                                 const HashFiller& fill = {}) {
  return Ops(RunPlan(src, dst, opts, fill).actions);
}

PlanOptions HardLinks() {
  PlanOptions o;
  o.hard_links = true;
  return o;
}

void Expect(const Action& a, ActionKind kind, int64_t src_index, bool replaces, uint16_t changes) {
  EXPECT_EQ(a.kind, kind) << KindName(a.kind) << " " << a.entry.path;
  EXPECT_EQ(a.src_index, src_index) << a.entry.path;
  EXPECT_EQ(a.replaces, replaces) << a.entry.path;
  EXPECT_EQ(a.changes, changes) << a.entry.path;
}

TEST(Planner, IdenticalTreesNeedNothing) {
  Manifest m = {Root(), Dir("d"), File("d/f"), Link("l", "d/f"), Special("p", EntryType::Fifo)};
  EXPECT_THAT(PlanOps(m, m), IsEmpty());
}

TEST(Planner, NewFileIsSentAndParentMetaReapplied) {
  PlanRun r = RunPlan({Root(), File("a", 7)}, {Root()});
  EXPECT_THAT(Ops(r.actions), ElementsAre("send a", "dirmeta ."));
  Expect(r.actions[0], ActionKind::SendFile, 1, false, kChNew);
  Expect(r.actions[1], ActionKind::DirMeta, 0, true, 0);
}

TEST(Planner, CreatesNewDirSymlinkAndSpecials) {
  Manifest src = {Root(), Dir("d"), Special("d/dev", EntryType::CharDev, 5), Special("d/fifo", EntryType::Fifo),
                  Link("d/l", "x")};
  PlanRun r = RunPlan(src, {Root()});
  EXPECT_THAT(Ops(r.actions), ElementsAre("mkdir d", "special d/dev", "special d/fifo", "symlink d/l", "dirmeta d",
                                          "dirmeta ."));
  for (const Action& a : r.actions) {
    if (a.src_index != 0) {
      EXPECT_EQ(a.changes, kChNew) << KindName(a.kind);
    }
  }
}

TEST(Planner, DeletesExtraneousDeepestFirstThenTheirParentsMeta) {
  Manifest src = {Root(), File("keep")};
  Manifest dst = {Root(), Dir("d"), File("d/x"), Dir("d/y"), File("d/y/z"), File("e"), File("keep")};
  EXPECT_THAT(PlanOps(src, dst),
              ElementsAre("delete e", "delete d/y/z", "delete d/y", "delete d/x", "delete d", "dirmeta ."));
}

TEST(Planner, KeepsExtraneousWithoutDelete) {
  Manifest src = {Root(), File("keep")};
  Manifest dst = {Root(), Dir("d"), File("d/x"), File("keep")};
  PlanOptions opts;
  opts.delete_extraneous = false;
  EXPECT_THAT(PlanOps(src, dst, opts), IsEmpty());
}

Entry Protected(Entry e, Entry::Protection p = Entry::Protection::Always) {
  e.protection = p;
  return e;
}

TEST(Planner, FilterProtectedEntriesStayAndKeepTheirSubtree) {
  Manifest src = {Root(), File("keep")};
  Manifest dst = {Root(), Protected(Dir("db")), File("db/x"), Dir("gone"), Protected(File("gone/p")), File("gone/q"),
                  File("keep"), Protected(File("z"))};
  // gone/p keeps gone (rsync's "cannot delete non-empty directory"), decided in the plan:
  // not deleted, not counted.
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions), ElementsAre("delete gone/q", "dirmeta ."));
  EXPECT_EQ(r.totals.to_delete, 1u);
}

TEST(Planner, AProtectedEntryKeepsEveryDeletedDirectoryAroundItOnce) {
  Manifest src = {Root()};
  Manifest dst = {Root(),    Dir("a"),      Dir("a/b"), Protected(Dir("a/b/p")), File("a/b/p/y"), Protected(File("a/b/q")),
                  File("a/b/x"), Dir("a/c"), File("a/c/z"), Dir("d"),               File("d/w")};
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions),
              ElementsAre("delete d/w", "delete d", "delete a/c/z", "delete a/c", "delete a/b/x", "dirmeta ."));
  EXPECT_EQ(r.totals.to_delete, 5u);
}

TEST(Planner, AHiddenEntryKeepsItsDirectoryAndIsNoEntryOfTheRun) {
  // Excluded on both sides: the scan only names it. SRC's own rule files may list it.
  Manifest src = {Root(), File("x.o")};
  Manifest dst = {Root(), Dir("gone"), Protected(File("gone/a.o"), Entry::Protection::Hidden), File("gone/b"),
                  Protected(File("x.o"), Entry::Protection::Hidden)};
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions), ElementsAre("send x.o", "delete gone/b", "dirmeta ."));
  EXPECT_EQ(r.totals.to_delete, 1u);
}

TEST(Planner, APerishablyProtectedEntryInsideADeletedDirectoryKeepsNothing) {
  Manifest src = {Root()};
  Manifest dst = {Root(), Dir("gone"), Protected(File("gone/x.o"), Entry::Protection::UnlessParentDeleted)};
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions), ElementsAre("delete gone/x.o", "delete gone", "dirmeta ."));
  EXPECT_EQ(r.totals.to_delete, 2u);
}

TEST(Planner, PerishableProtectionEndsInsideADeletedDirectory) {
  const auto perishable = Entry::Protection::UnlessParentDeleted;
  Manifest src = {Root(), Dir("d")};
  Manifest dst = {Root(), Dir("d"), Protected(File("d/x.o"), perishable), Dir("gone"),
                  Protected(Dir("gone/sub"), perishable), File("gone/sub/y"), Protected(File("gone/x.o"), perishable)};
  EXPECT_THAT(PlanOps(src, dst),
              ElementsAre("delete gone/x.o", "delete gone/sub/y", "delete gone/sub", "delete gone", "dirmeta ."));
}

TEST(Planner, APerishableIncludeGivesWayInsideADeletedDirectory) {
  // "+,p keep.tmp" then "- *.tmp": at risk where it is, protected inside a deleted directory.
  const auto inside = Entry::Protection::WhenParentDeleted;
  Manifest src = {Root()};
  Manifest dst = {Root(), Dir("gone"), Protected(File("gone/keep.tmp"), inside), Protected(File("keep.tmp"), inside)};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("delete keep.tmp", "dirmeta ."));
}

TEST(Planner, ATypeChangeLeavesProtectedEntriesInItsWay) {
  // SRC has a file where DST has a directory holding a protected entry: it stays (and so
  // does the directory, whose removal fails; rsync's "could not make way").
  Manifest src = {Root(), File("d")};
  Manifest dst = {Root(), Dir("d"), Protected(Dir("d/db")), File("d/db/x"), Protected(File("d/keep")), File("d/q")};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("remove d/q", "remove d", "send d", "dirmeta ."));
}

TEST(Planner, ARefusedSourceEntryLeavesDstsEntryWithItsSubtree) {
  // A daemon refuses a device where DST has a directory: nothing beneath it looks
  // extraneous, even when the deletions run despite the error (--delete-on-error).
  Manifest dst = {Root(), Dir("dev"), File("dev/x"), Dir("dev/y"), File("dev/y/z"), File("gone")};
  VectorSource s({Root(), Special("dev", EntryType::CharDev)}), d(dst);
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner({}, sink);
  EntryPair p;
  while (walk.Next(p)) {
    p.src_refused = p.src && p.src->path == "dev";
    planner.Visit(std::move(p));
  }
  planner.Finish();
  EXPECT_THAT(Ops(sink.Executed()), ElementsAre("delete gone", "dirmeta ."));
  EXPECT_EQ(planner.src_entries(), 1u);
}

TEST(Planner, RenameIsDeletePlusCreate) {
  EXPECT_THAT(PlanOps({Root(), File("new-name")}, {Root(), File("old-name")}),
              ElementsAre("send new-name", "delete old-name", "dirmeta ."));
}

TEST(Planner, FileBecomesDir) {
  PlanRun r = RunPlan({Root(), Dir("a"), File("a/x")}, {Root(), File("a")});
  EXPECT_THAT(Ops(r.actions), ElementsAre("remove a", "mkdir a", "send a/x", "dirmeta a", "dirmeta ."));
  Expect(r.actions[0], ActionKind::RemoveForType, -1, true, kChNew);  // the entry in the way
  Expect(r.actions[1], ActionKind::MkDir, 1, false, kChNew);
  Expect(r.actions[3], ActionKind::DirMeta, 1, false, kChNew);
}

TEST(Planner, DirBecomesFileRemovingSubtreeDeepestFirstEvenWithoutDelete) {
  Manifest src = {Root(), File("a"), File("b")};
  Manifest dst = {Root(), Dir("a"), File("a/x"), Dir("a/y"), File("a/y/z"), File("b")};
  PlanOptions opts;
  opts.delete_extraneous = false;
  EXPECT_THAT(PlanOps(src, dst, opts),
              ElementsAre("remove a/y/z", "remove a/y", "remove a/x", "remove a", "send a", "dirmeta ."));
  // Only the entry in the way is marked kChNew: what was beneath it prints as deleted.
  PlanRun r = RunPlan(src, dst, opts);
  Expect(r.actions[0], ActionKind::RemoveForType, -1, true, 0);
  Expect(r.actions[2], ActionKind::RemoveForType, -1, true, 0);
  Expect(r.actions[3], ActionKind::RemoveForType, -1, true, kChNew);
}

TEST(Planner, RetypedDirAtTheEndOfTheStreamsIsReplacedToo) {
  EXPECT_THAT(PlanOps({Root(), File("z")}, {Root(), Dir("z"), File("z/x")}),
              ElementsAre("remove z/x", "remove z", "send z", "dirmeta ."));
}

TEST(Planner, FileBecomesSymlink) {
  PlanRun r = RunPlan({Root(), Link("a", "t")}, {Root(), File("a")});
  EXPECT_THAT(Ops(r.actions), ElementsAre("remove a", "symlink a", "dirmeta ."));
  Expect(r.actions[1], ActionKind::Symlink, 1, false, kChNew);
}

TEST(Planner, SymlinkBecomesDir) {
  EXPECT_THAT(PlanOps({Root(), Dir("a"), File("a/f")}, {Root(), Link("a", "elsewhere"), File("b")}),
              ElementsAre("remove a", "mkdir a", "send a/f", "dirmeta a", "delete b", "dirmeta ."));
}

TEST(Planner, EqualHashesWithDifferentMtimeIsMetaOnly) {
  PlanRun r = RunPlan({Root(), WithHash(WithMtime(File("f"), 5), 42)}, {Root(), WithHash(WithMtime(File("f"), 9), 42)});
  ASSERT_EQ(r.actions.size(), 1u);
  Expect(r.actions[0], ActionKind::MetaOnly, 1, true, kChMtime);
}

TEST(Planner, WithoutHashTouchedASameSizeFileWithAnotherMtimeIsSentUnhashed) {
  PlanOptions write_only;
  write_only.hash_touched = false;
  PlanRun r = RunPlan({Root(), WithHash(WithMtime(File("f"), 5), 42)}, {Root(), WithHash(WithMtime(File("f"), 9), 42)},
                      write_only);
  EXPECT_THAT(Ops(r.actions), ElementsAre("send f", "dirmeta ."));
  EXPECT_EQ(r.actions[0].changes, kChMtime);
  EXPECT_THAT(PlanOps({Root(), File("f")}, {Root(), File("f")}, write_only), IsEmpty()) << "same mtime: unchanged";
}

TEST(Planner, MissingHashIsSentNeverAssumedEqual) {
  PlanRun r = RunPlan({Root(), WithHash(WithMtime(File("f"), 5), 42)}, {Root(), WithMtime(File("f"), 9)});
  EXPECT_THAT(Ops(r.actions), ElementsAre("send f", "dirmeta ."));
  EXPECT_EQ(r.actions[0].changes, kChMtime);
}

TEST(Planner, DifferentHashesWithDifferentMtimeIsSent) {
  EXPECT_THAT(PlanOps({Root(), WithHash(WithMtime(File("f"), 5), 1)}, {Root(), WithHash(WithMtime(File("f"), 9), 2)}),
              ElementsAre("send f", "dirmeta ."));
}

TEST(Planner, ChecksumSendsSameSizeAndMtimeWithDifferentHash) {
  Manifest src = {Root(), WithHash(File("f"), 1)};
  Manifest dst = {Root(), WithHash(File("f"), 2)};
  PlanOptions opts;
  opts.checksum = true;
  PlanRun r = RunPlan(src, dst, opts);
  Expect(r.actions.at(0), ActionKind::SendFile, 1, true, kChChecksum);
  EXPECT_THAT(PlanOps(src, dst), IsEmpty());  // without --checksum size+mtime decide
}

TEST(Planner, ChecksumWithEqualHashesNeedsNothing) {
  Manifest src = {Root(), WithHash(File("f"), 1)};
  PlanOptions opts;
  opts.checksum = true;
  EXPECT_THAT(PlanOps(src, src, opts), IsEmpty());
}

TEST(Planner, ChecksumWithMissingHashIsSent) {
  Manifest src = {Root(), File("f")};
  PlanOptions opts;
  opts.checksum = true;
  EXPECT_THAT(PlanOps(src, src, opts), ElementsAre("send f", "dirmeta ."));
}

// The pipeline fills the hashes the planner asks for; equal content then changes neither the
// file's data nor its directory (a --checksum run over an unchanged tree touches nothing).
TEST(Planner, HashesFilledLaterDecideAndLeaveTheDirectoryAlone) {
  Manifest src = {Root(), Dir("d"), File("d/f"), File("d/g")};
  PlanOptions opts;
  opts.checksum = true;
  size_t asked = 0;
  auto same = [&](Planner::HashNeeds& n) {
    for (auto& [index, e] : n.src) e->hash = Hash128{7, 7}, ++asked;
    for (Entry* e : n.dst) e->hash = Hash128{7, 7}, ++asked;
  };
  EXPECT_THAT(PlanOps(src, src, opts, same), IsEmpty());
  EXPECT_EQ(asked, 4u);
  auto differ = [](Planner::HashNeeds& n) {
    for (auto& [index, e] : n.src) e->hash = Hash128{1, 1};
    for (Entry* e : n.dst) e->hash = Hash128{2, 2};
  };
  EXPECT_THAT(PlanOps(src, src, opts, differ), ElementsAre("send d/f", "send d/g", "dirmeta d"));
}

TEST(Planner, HashNeedsNameTheSourceOrdinals) {
  Manifest src = {Root(), WithMtime(File("a"), 5), WithHash(WithMtime(File("b"), 5), 1), WithMtime(File("c", 3), 5),
                  File("d"), WithMtime(Link("e", "t"), 5)};
  Manifest dst = {Root(), File("a"), File("b"), File("c"), File("d"), Link("e", "t")};
  std::vector<int64_t> src_asked;
  std::vector<std::string> dst_asked;
  RunPlan(src, dst, {}, [&](Planner::HashNeeds& n) {
    for (auto& [index, e] : n.src) src_asked.push_back(index);
    for (Entry* e : n.dst) dst_asked.push_back(e->path);
  });
  EXPECT_THAT(src_asked, ElementsAre(1));            // b already has its hash; c differs in size
  EXPECT_THAT(dst_asked, ElementsAre("a", "b"));
}

TEST(Planner, NothingAfterAnUndecidedPairReachesTheSinkBeforeItIsResolved) {
  VectorSource s({Root(), Dir("d"), WithMtime(File("d/f"), 5), File("d/g"), File("z")});
  VectorSource d({Root(), Dir("d"), File("d/f"), File("old")});
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner({}, sink);
  EntryPair p;
  while (walk.Next(p)) planner.Visit(std::move(p));
  EXPECT_EQ(sink.applied(), 0u);  // d/g, z and d's DirMeta all wait behind d/f
  EXPECT_EQ(sink.deletes(), 1u);  // deletions do not: they run at the end anyway
  EXPECT_TRUE(planner.HasUndecided());
  EXPECT_EQ(planner.OldestUndecided(walk.next_src_index()), 2);
  planner.Resolve();
  EXPECT_EQ(planner.OldestUndecided(walk.next_src_index()), 5);
  planner.Finish();
  EXPECT_THAT(Ops(sink.Executed()), ElementsAre("send d/f", "send d/g", "dirmeta d", "send z", "delete old", "dirmeta ."));
}

TEST(Planner, WantsHashesBeforeTheUndecidedPairsOutgrowTheirBounds) {
  Manifest src = {Root()}, dst = {Root()};
  for (int i = 0; i < 10; ++i) {
    std::string name = "f" + std::to_string(i);
    src.push_back(WithMtime(File(name), 5));
    dst.push_back(File(name));
  }
  VectorSource s(src), d(dst);
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner({}, sink);
  EntryPair p;
  ASSERT_TRUE(walk.Next(p));
  planner.Visit(std::move(p));
  EXPECT_FALSE(planner.WantsHashes(walk.next_src_index()));
  ASSERT_TRUE(walk.Next(p));
  planner.Visit(std::move(p));  // f0, ordinal 1, is undecided
  EXPECT_FALSE(planner.WantsHashes(2));
  EXPECT_TRUE(planner.WantsHashes(1 + Planner::kMaxUndecidedSpan));
}

TEST(Planner, SizeChangeIsSentWithSizeAndMtimeBits) {
  PlanRun r = RunPlan({Root(), WithMtime(File("f", 10), 5)}, {Root(), WithMtime(File("f", 11), 9)});
  Expect(r.actions.at(0), ActionKind::SendFile, 1, true, kChSize | kChMtime);
}

TEST(Planner, MtimeWithinModifyWindowIsEqual) {
  PlanOptions opts;
  opts.mtime_tolerance_ns = 1'000'000'000;
  EXPECT_THAT(PlanOps({Root(), WithMtime(File("f"), 1'000'000'000)}, {Root(), WithMtime(File("f"), 1'900'000'000)}, opts),
              IsEmpty());
}

// rsync's transfer rules: what they skip is neither created, updated nor deleted.
TEST(Planner, UpdateKeepsANewerDstFileButNotAnotherSizeAtTheSameTime) {
  PlanOptions opts;
  opts.update_only = true;
  Manifest src = {Root(), WithMtime(File("newer", 10), 5), WithMtime(File("older", 10), 9), WithMtime(File("same", 10), 7)};
  Manifest dst = {Root(), WithMtime(File("newer", 12), 9), WithMtime(File("older", 12), 5), WithMtime(File("same", 12), 7)};
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("send older", "send same", "dirmeta ."));
}

TEST(Planner, UpdateStillReplacesAnEntryOfAnotherType) {
  PlanOptions opts;
  opts.update_only = true;
  EXPECT_THAT(PlanOps({Root(), WithMtime(File("x"), 1)}, {Root(), WithMtime(Link("x", "t"), 9)}, opts),
              ElementsAre("remove x", "send x", "dirmeta ."));
}

TEST(Planner, IgnoreExistingOnlyCreatesYetDescendsExistingDirs) {
  PlanOptions opts;
  opts.ignore_existing = true;
  Manifest src = {Root(), WithMode(Dir("d"), 0700), File("d/new"), File("d/old", 3), File("f", 3), Dir("x"), File("x/y"),
                  File("z")};
  Manifest dst = {Root(), Dir("d"), File("d/old", 4), File("f", 4), File("gone"), File("x"), Dir("z"), File("z/kept")};
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("send d/new", "dirmeta d", "delete gone", "dirmeta ."));
}

TEST(Planner, ExistingCreatesNothingNewNotEvenADirectorysSubtree) {
  PlanOptions opts;
  opts.existing_only = true;
  Manifest src = {Root(), File("add"), Dir("new"), File("new/f"), File("old", 3)};
  Manifest dst = {Root(), File("gone"), File("old", 4)};
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("send old", "delete gone", "dirmeta ."));
}

TEST(Planner, SizeLimitsSkipFilesOutsideThem) {
  PlanOptions opts;
  opts.min_size = 5;
  opts.max_size = 10;
  Manifest src = {Root(), File("big", 11), File("edge", 10), File("small", 4), Dir("tiny_dir")};
  Manifest dst = {Root(), File("big", 1), File("small", 1)};
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("send edge", "mkdir tiny_dir", "dirmeta tiny_dir", "dirmeta ."));
}

TEST(Planner, SizeOnlyNeedsNoHashButStillMirrorsTheMtime) {
  PlanOptions opts;
  opts.size_only = true;
  PlanRun r = RunPlan({Root(), WithMtime(File("f"), 5)}, {Root(), WithMtime(File("f"), 9)}, opts);
  ASSERT_EQ(r.actions.size(), 1u);
  Expect(r.actions[0], ActionKind::MetaOnly, 1, true, kChMtime);
  opts.checksum = true;  // as in rsync, -c wins
  EXPECT_THAT(PlanOps({Root(), File("f")}, {Root(), File("f")}, opts), ElementsAre("send f", "dirmeta ."));
}

TEST(Planner, PermsOnlyIsMetaOnlyAndLeavesParentAlone) {
  Manifest src = {Root(), WithMode(File("f"), 0600)};
  Manifest dst = {Root(), File("f")};
  PlanRun r = RunPlan(src, dst);
  ASSERT_EQ(r.actions.size(), 1u);
  Expect(r.actions[0], ActionKind::MetaOnly, 1, true, kChPerms);
  PlanOptions no_perms;
  no_perms.perms = false;
  EXPECT_THAT(PlanOps(src, dst, no_perms), IsEmpty());
}

TEST(Planner, OwnerAndGroupComparedOnlyWhenMirrored) {
  Entry s = File("f");
  s.uid = 1;
  s.gid = 2;
  Manifest src = {Root(), s};
  Manifest dst = {Root(), File("f")};
  EXPECT_THAT(PlanOps(src, dst), IsEmpty());
  PlanOptions opts;
  opts.owner = true;
  opts.group = true;
  EXPECT_EQ(RunPlan(src, dst, opts).actions.at(0).changes, kChOwner | kChGroup);
}

TEST(Planner, SymlinkTargetChangeReplacesIt) {
  PlanRun r = RunPlan({Root(), Link("l", "new")}, {Root(), Link("l", "old")});
  EXPECT_THAT(Ops(r.actions), ElementsAre("symlink l", "dirmeta ."));
  Expect(r.actions[0], ActionKind::Symlink, 1, true, kChTarget);
}

TEST(Planner, SymlinkMtimeOnlyIsMetaOnlyAndPermsIgnored) {
  PlanRun r = RunPlan({Root(), WithMode(WithMtime(Link("l", "t"), 5), 0777)}, {Root(), WithMode(Link("l", "t"), 0755)});
  ASSERT_EQ(r.actions.size(), 1u);
  Expect(r.actions[0], ActionKind::MetaOnly, 1, true, kChMtime);
}

TEST(Planner, DeviceNumberChangeReplacesSpecial) {
  EXPECT_THAT(PlanOps({Root(), Special("dev", EntryType::BlockDev, 7)}, {Root(), Special("dev", EntryType::BlockDev, 8)}),
              ElementsAre("special dev", "dirmeta ."));
}

TEST(Planner, SpecialMetaOnlyAndTypeChange) {
  Manifest src = {Root(), WithMode(Special("p", EntryType::Fifo), 0600), Special("s", EntryType::Socket)};
  Manifest dst = {Root(), Special("p", EntryType::Fifo), Special("s", EntryType::Fifo)};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("meta p", "remove s", "special s", "dirmeta ."));
}

TEST(Planner, DirMetaWhenTheWalkLeavesEachChangedDir) {
  Manifest src = {Root(), WithMtime(Dir("a"), 5), WithMtime(Dir("a/b"), 5), Dir("a/b/c"), WithMtime(Dir("z"), 5)};
  Manifest dst = {Root(), Dir("a"), Dir("a/b"), Dir("a/b/c"), Dir("z")};
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions), ElementsAre("dirmeta a/b", "dirmeta a", "dirmeta z"));
  EXPECT_EQ(r.actions[0].changes, kChMtime);
}

TEST(Planner, DirMetaReappliedOnlyToDirectParentOfChangedChild) {
  Manifest src = {Root(), Dir("a"), Dir("a/b"), File("a/b/new"), Dir("c")};
  Manifest dst = {Root(), Dir("a"), Dir("a/b"), Dir("c"), File("c/old")};
  PlanRun r = RunPlan(src, dst);
  EXPECT_THAT(Ops(r.actions), ElementsAre("send a/b/new", "dirmeta a/b", "delete c/old", "dirmeta c"));
  EXPECT_EQ(r.actions[3].changes, 0);
}

TEST(Planner, ActionsComeInPlanOrder) {
  Manifest src = {Root(),
                  Dir("a"),
                  Leads(WithIno(File("a/leader"), 1)),
                  WithLeader(WithIno(File("a/link"), 1), 2),
                  WithMode(File("b"), 0600),
                  Dir("newdir"),
                  Link("sym", "x"),
                  Dir("t")};
  Manifest dst = {Root(), Dir("a"), File("b"), File("gone"), File("t")};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()),
              ElementsAre("send a/leader", "hardlink a/link", "dirmeta a", "meta b", "mkdir newdir", "dirmeta newdir",
                          "symlink sym", "remove t", "mkdir t", "dirmeta t", "delete gone", "dirmeta ."));
}

TEST(Planner, CountsTotals) {
  Manifest src = {Root(), File("changed", 30), WithMtime(Dir("d"), 5), File("d/new", 100), Link("l", "x"), Dir("nd"),
                  WithMode(File("perm"), 0600), File("same")};
  Manifest dst = {Root(), File("changed", 31), Dir("d"), File("old"), File("perm"), File("same")};
  PlanTotals t = RunPlan(src, dst).totals;
  EXPECT_EQ(t.files_to_send, 2u);
  EXPECT_EQ(t.bytes_to_send, 130u);
  EXPECT_EQ(t.to_delete, 1u);
  EXPECT_EQ(t.meta_only, 2u);      // perm + dir d; root (touched only) and new nd not counted
  EXPECT_EQ(t.created_other, 2u);  // symlink l + mkdir nd
}

TEST(Planner, RootIsNeverDeletedOrCreated) {
  PlanRun r = RunPlan({WithMtime(Root(), 5)}, {Root(), File("x")});
  EXPECT_THAT(Ops(r.actions), ElementsAre("delete x", "dirmeta ."));
  Expect(r.actions[1], ActionKind::DirMeta, 0, true, kChMtime);

  PlanRun fresh = RunPlan({WithMtime(Root(), 5)}, {});
  ASSERT_EQ(fresh.actions.size(), 1u);
  Expect(fresh.actions[0], ActionKind::DirMeta, 0, false, kChNew);
}

TEST(Planner, NewHardLinkFollowerIsLinkedAfterLeaderIsSent) {
  PlanRun r = RunPlan({Root(), Leads(WithIno(File("a", 50), 1)), WithLeader(WithIno(File("b", 50), 1), 1)}, {Root()},
                      HardLinks());
  EXPECT_THAT(Ops(r.actions), ElementsAre("send a", "hardlink b", "dirmeta ."));
  Expect(r.actions[1], ActionKind::HardLink, 2, false, kChNew);
  EXPECT_EQ(r.actions[1].leader, "a");
  EXPECT_EQ(r.totals.files_to_send, 1u);
  EXPECT_EQ(r.totals.bytes_to_send, 50u);
}

TEST(Planner, HardLinkAlreadyInPlaceNeedsNothing) {
  Manifest src = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 9), WithIno(File("b"), 9)};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), IsEmpty());
}

TEST(Planner, HardLinkRedoneWhenDstIsSeparateInode) {
  Manifest src = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 8), WithIno(File("b"), 9)};
  PlanRun r = RunPlan(src, dst, HardLinks());
  EXPECT_THAT(Ops(r.actions), ElementsAre("hardlink b", "dirmeta ."));
  Expect(r.actions[0], ActionKind::HardLink, 2, true, 0);
}

TEST(Planner, HardLinkRedoneWhenLeaderIsResent) {
  Manifest src = {Root(), Leads(WithIno(File("a", 20), 1)), WithLeader(WithIno(File("b", 20), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a", 10), 9), WithIno(File("b", 10), 9)};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), ElementsAre("send a", "hardlink b", "dirmeta ."));
}

// The follower of an undecided leader waits for it: linked again only when the leader's
// content turns out different (a re-sent leader is a new inode).
TEST(Planner, FollowerOfAnUndecidedLeaderWaitsForItsDecision) {
  Manifest src = {Root(), Leads(WithIno(WithMtime(File("a"), 5), 1)), WithLeader(WithIno(WithMtime(File("b"), 5), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 9), WithIno(File("b"), 9)};
  auto fill = [](uint64_t s, uint64_t d) {
    return [s, d](Planner::HashNeeds& n) {
      for (auto& [index, e] : n.src) e->hash = Hash128{s, s};
      for (Entry* e : n.dst) e->hash = Hash128{d, d};
    };
  };
  EXPECT_THAT(PlanOps(src, dst, HardLinks(), fill(1, 1)), ElementsAre("meta a"));
  EXPECT_THAT(PlanOps(src, dst, HardLinks(), fill(1, 2)), ElementsAre("send a", "hardlink b", "dirmeta ."));
}

// DST has a and b as one inode, SRC as two files: one name keeps the inode, the other gets
// a copy of its own, so fixing one's metadata no longer changes the other's.
TEST(Planner, DstHardLinkThatSrcLacksIsBroken) {
  Entry da = Leads(WithIno(File("a"), 9)), db = Leads(WithIno(File("b"), 9));
  Manifest dst = {Root(), da, db};
  Manifest same = {Root(), File("a"), File("b")};
  EXPECT_THAT(PlanOps(same, dst, HardLinks()), ElementsAre("send b", "dirmeta ."));
  Manifest modes = {Root(), File("a"), WithMode(File("b"), 0600)};
  PlanRun r = RunPlan(modes, dst, HardLinks());
  EXPECT_THAT(Ops(r.actions), ElementsAre("send b", "dirmeta ."));
  Expect(r.actions[0], ActionKind::SendFile, 2, true, kChPerms);
  // A re-sent first name leaves the inode to the second.
  Manifest first_changed = {Root(), File("a", 11), File("b")};
  EXPECT_THAT(PlanOps(first_changed, dst, HardLinks()), ElementsAre("send a", "dirmeta ."));
  // Without -H, DST's links are left as they are (rsync -a does the same).
  EXPECT_THAT(PlanOps(same, dst), IsEmpty());
  // A link to something outside DST (one name here) is not broken.
  EXPECT_THAT(PlanOps({Root(), File("a")}, {Root(), da}, HardLinks()), IsEmpty());
}

TEST(Planner, DstHardLinkThatSrcHasTooStays) {
  Manifest src = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1), File("c")};
  Manifest dst = {Root(), Leads(WithIno(File("a"), 9), 3), Leads(WithIno(File("b"), 9), 3), Leads(WithIno(File("c"), 9), 3)};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), ElementsAre("send c", "dirmeta ."));
}

TEST(Planner, HardLinkNotTrustedWithoutInodeIdentity) {
  Manifest src = {Root(), Leads(File("a")), WithLeader(File("b"), 1)};
  Manifest dst = {Root(), File("a"), File("b")};  // ino 0: identity unknown
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), ElementsAre("hardlink b", "dirmeta ."));
}

// A name beyond the leader's link count (a link added during the scan), or a leader index
// no earlier multi-link file has (a peer's lie): copied as a file of its own, never linked.
TEST(Planner, FollowerWithoutARememberedLeaderIsCopied) {
  Manifest extra = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1),
                    WithLeader(WithIno(File("c"), 1), 1)};
  EXPECT_THAT(PlanOps(extra, {Root()}, HardLinks()), ElementsAre("send a", "hardlink b", "send c", "dirmeta ."));
  Manifest bogus = {Root(), File("a"), WithLeader(File("b"), 1), WithLeader(File("c"), 7)};
  EXPECT_THAT(PlanOps(bogus, {Root()}, HardLinks()), ElementsAre("send a", "send b", "send c", "dirmeta ."));
  // Its own link count does not make it a leader (later names of its inode name "a"): it
  // is sent at once, not held to the end, and not remembered.
  Manifest beyond = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1),
                     Leads(WithLeader(WithIno(File("c"), 1), 1)), File("d")};
  EXPECT_THAT(PlanOps(beyond, {Root()}, HardLinks()),
              ElementsAre("send a", "hardlink b", "send c", "send d", "dirmeta ."));
  beyond.push_back(Leads(WithIno(File("e"), 2)));
  VectorSource s(beyond), d({Root()});
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner(HardLinks(), sink, /*max_leaders=*/1);  // "a", then "e": never two at once
  EntryPair p;
  EXPECT_NO_THROW({
    while (walk.Next(p)) planner.Visit(std::move(p));
    planner.Finish();
  });
}

// A new name of an inode DST already has under another name: linked to it, no data sent.
TEST(Planner, NewLeaderIsLinkedToTheDstFileOfALaterNameWithItsContent) {
  Manifest src = {Root(), Leads(WithIno(File("a", 50), 1)), WithLeader(WithIno(File("b", 50), 1), 1)};
  Manifest dst = {Root(), WithIno(File("b", 50), 9)};
  PlanRun r = RunPlan(src, dst, HardLinks());
  EXPECT_THAT(Ops(r.actions), ElementsAre("hardlink a", "dirmeta ."));
  Expect(r.actions[0], ActionKind::HardLink, 1, false, kChNew);
  EXPECT_EQ(r.actions[0].leader, "b");
  EXPECT_EQ(r.totals.files_to_send, 0u);
  // Its metadata is fixed on the inode it now shares.
  Manifest dst_mode = {Root(), WithMode(WithIno(File("b", 50), 9), 0600)};
  EXPECT_THAT(PlanOps(src, dst_mode, HardLinks()), ElementsAre("hardlink a", "meta b", "dirmeta ."));
  // A leader DST has with other content is replaced by the link.
  Manifest dst_old = {Root(), WithIno(File("a", 10), 8), WithIno(File("b", 50), 9)};
  PlanRun replaced = RunPlan(src, dst_old, HardLinks());
  EXPECT_THAT(Ops(replaced.actions), ElementsAre("hardlink a", "dirmeta ."));
  EXPECT_TRUE(replaced.actions[0].replaces);
  // Other content at the later name: the leader is sent and the name linked to it.
  Manifest dst_other = {Root(), WithIno(File("b", 49), 9)};
  EXPECT_THAT(PlanOps(src, dst_other, HardLinks()), ElementsAre("send a", "hardlink b", "dirmeta ."));
}

TEST(Planner, NamesBeforeTheOneDstHasWaitForTheLeadersLink) {
  Manifest src = {Root(), Leads(WithIno(File("a", 50), 1), 3), WithLeader(WithIno(File("b", 50), 1), 1),
                  WithLeader(WithIno(File("c", 50), 1), 1)};
  Manifest dst = {Root(), WithIno(File("c", 50), 9)};
  PlanRun r = RunPlan(src, dst, HardLinks());
  EXPECT_THAT(Ops(r.actions), ElementsAre("hardlink a", "hardlink b", "dirmeta ."));
  EXPECT_EQ(r.actions[0].leader, "c");
  EXPECT_EQ(r.actions[1].leader, "a");
}

// Only the held leader's directory waits for it; other changes go out as decided.
TEST(Planner, AHeldLeaderHoldsOnlyItsDirectorysMetadata) {
  Manifest src = {Root(), Dir("d"), Leads(WithIno(File("d/a", 5), 1)), File("d/z"), Dir("e"),
                  WithLeader(WithIno(File("e/b", 5), 1), 2)};
  Manifest dst = {Root(), Dir("d"), Dir("e"), WithIno(File("e/b", 5), 9)};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), ElementsAre("send d/z", "hardlink d/a", "dirmeta d"));
}

// -L: a leader with more names than links (kLinksUnbounded, scan.h) is held to the end of
// the walk; a directory holding a link to it waits for that link before taking its times.
TEST(Planner, LinksToAHeldLeaderHoldTheirDirectorysMetadata) {
  Manifest src = {Root(), Dir("d"), Leads(WithIno(File("d/a", 5), 1), UINT32_MAX), Dir("e"),
                  WithLeader(WithIno(File("e/b", 5), 1), 2), Dir("f")};
  std::vector<std::string> ops = PlanOps(src, {Root()}, HardLinks());
  auto at = [&](const char* op) { return std::find(ops.begin(), ops.end(), op) - ops.begin(); };
  ASSERT_LT(at("hardlink e/b"), static_cast<long>(ops.size()));
  EXPECT_LT(at("send d/a"), at("hardlink e/b"));
  EXPECT_LT(at("hardlink e/b"), at("dirmeta e"));
  EXPECT_LT(at("send d/a"), at("dirmeta d"));
}

// A name far away: the leader is sent once the walk is kMaxUndecidedSpan entries past it,
// so the source need not keep it longer (OldestUndecided says so meanwhile).
TEST(Planner, AHeldLeaderIsSentWhenItsOtherNamesAreFarAway) {
  Manifest src = {Root(), Leads(WithIno(File("a", 5), 1))};
  for (int i = 0; i < Planner::kMaxUndecidedSpan; ++i) src.push_back(File("f" + std::to_string(100000 + i)));
  src.push_back(WithLeader(WithIno(File("z", 5), 1), 1));
  Manifest dst = {Root(), WithIno(File("z", 5), 9)};
  std::vector<std::string> ops = PlanOps(src, dst, HardLinks());
  auto send_a = std::find(ops.begin(), ops.end(), "send a");
  ASSERT_NE(send_a, ops.end());
  EXPECT_EQ(send_a - ops.begin(), Planner::kMaxUndecidedSpan - 1) << "sent once the walk is far enough past it";
  EXPECT_EQ(ops[ops.size() - 2], "hardlink z");
}

TEST(Planner, RememberedLeadersAreBounded) {
  Manifest src = {Root(), Leads(File("a")), Leads(File("b"))};
  VectorSource s(src), d({Root()});
  MergeWalk walk(s, d);
  ExecutionOrder sink;
  Planner planner(HardLinks(), sink, /*max_leaders=*/1);
  EntryPair p;
  auto all = [&] {
    while (walk.Next(p)) planner.Visit(std::move(p));
  };
  EXPECT_THROW(all(), Error);
}

TEST(Planner, KeepsDstContentsBeneathAMountPointSrcDidNotDescend) {
  Entry mnt = Dir("mnt");
  mnt.contents_skipped = true;
  Manifest src = {Root(), mnt, File("z")};
  Manifest dst = {Root(), Dir("mnt"), File("mnt/data"), Dir("mnt/sub"), File("mnt/sub/x"), File("z")};
  EXPECT_THAT(PlanOps(src, dst, PlanOptions{}), IsEmpty());
}

// --files-from: a directory SRC took only some children of keeps DST's others, each with
// its subtree; a fully taken one beneath it still has its extras deleted.
TEST(Planner, KeepsDstChildrenOfAPartlyTakenDirectory) {
  Entry root = Root();
  root.contents_partial = true;
  Entry a = Dir("a");
  a.contents_partial = true;
  Manifest src = {root, a, File("a/f"), Dir("a/whole"), File("a/whole/y")};
  Manifest dst = {Root(),         Dir("a"),        File("a/f"),          File("a/stale"), Dir("a/sub"),
                  File("a/sub/x"), Dir("a/whole"), File("a/whole/stale"), File("a/whole/y"), Dir("e"),
                  File("e/x"),    File("stale")};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("delete a/whole/stale", "dirmeta a/whole"));
}

TEST(Planner, HardLinkReplacesEntryOfOtherType) {
  Manifest src = {Root(), Leads(WithIno(File("a"), 1)), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 9), Dir("b"), File("b/x")};
  EXPECT_THAT(PlanOps(src, dst, HardLinks()), ElementsAre("remove b/x", "remove b", "hardlink b", "dirmeta ."));
}

TEST(Planner, LinkLeaderIgnoredWithoutHardLinks) {
  EXPECT_THAT(PlanOps({Root(), Leads(File("a")), WithLeader(File("b"), 1)}, {Root()}),
              ElementsAre("send a", "send b", "dirmeta ."));
}

TEST(MergeWalk, RejectsStreamsOutOfPathOrder) {
  Manifest ok = {Root()};
  EXPECT_THROW(RunPlan({Root(), File("b"), File("a")}, ok), Error);
  EXPECT_THROW(RunPlan(ok, {Root(), File("a"), File("a")}), Error);
  EXPECT_THROW(RunPlan({File("a")}, ok), Error);
  EXPECT_THROW(RunPlan({Root(), File("a"), File("a/x")}, ok), Error);  // beneath a file
  EXPECT_THROW(RunPlan({Root(), File("a/x")}, ok), Error);             // parent never listed
}

TEST(MergeWalk, RejectsAStreamThatSkipsOrdinals) {
  struct Gappy : EntrySource {
    int calls = 0;
    bool NextBatch(EntryBatch& out) override {
      if (calls++ > 0) return false;
      out.first = 3;
      out.entries = {Make("", EntryType::Dir)};
      return true;
    }
  } gappy;
  VectorSource d({Root()});
  MergeWalk walk(gappy, d);
  EntryPair p;
  EXPECT_THROW(walk.Next(p), Error);
}

TEST(MergeWalk, PairsEqualPathsAndCountsSourceOrdinals) {
  VectorSource s({Root(), File("a"), File("c")}, 1), d({Root(), File("b"), File("c")}, 3);
  MergeWalk walk(s, d);
  std::vector<std::string> seen;
  EntryPair p;
  while (walk.Next(p)) {
    seen.push_back((p.src ? "s" + std::to_string(p.src_index) : std::string("-")) + (p.dst ? "d" : "-") + ":" +
                   (p.src ? p.src->path : p.dst->path));
  }
  EXPECT_THAT(seen, ElementsAre("s0d:", "s1-:a", "-d:b", "s2d:c"));
  EXPECT_EQ(walk.next_src_index(), 3);
}

// ---- the property: whatever the trees, the plan makes DST identical to SRC ------------------

// Random trees over a small name space (so paths collide across SRC and DST), every type,
// hard links in SRC; DST either independent or a mutated copy of SRC. Contents are hashes,
// and the world is consistent: same size and mtime means same content, as the quick check
// assumes.
class RandomTrees {
 public:
  explicit RandomTrees(uint32_t seed) : rng_(seed) {}

  Manifest Source() {
    Manifest m = {Root()};
    Fill("", 0, m);
    plan_model::LinkSomeFiles(m, 1, 1000, [&](size_t n) {
      return Pick(3) == 0 ? Pick(static_cast<uint32_t>(n)) : n;
    });
    return m;
  }

  Manifest Destination(const Manifest& src) {
    Manifest m;
    if (Pick(2) == 0) {
      m = {Root()};
      Fill("", 0, m);
    } else {
      for (const Entry& e : src) {
        if (!e.path.empty() && Pick(8) == 0) continue;  // removed (its subtree breaks order: filtered below)
        Entry d = e;
        d.link_leader = -1;
        d.nlink = 1;
        if (e.IsFile() && Pick(4) == 0) d.mtime.sec += 1;                  // touched
        if (e.IsFile() && Pick(6) == 0) d.hash = Hash128{Pick(3), 0};     // rewritten
        if (Pick(8) == 0) d.mode ^= 0100;
        m.push_back(d);
      }
      Manifest valid;  // drop entries whose parent was removed
      for (Entry& e : m) {
        std::string_view parent = ParentPath(e.path);
        bool ok = e.path.empty() || std::any_of(valid.begin(), valid.end(), [&](const Entry& v) {
                    return v.path == parent && v.IsDir();
                  });
        if (ok) valid.push_back(std::move(e));
      }
      m = std::move(valid);
    }
    for (size_t i = 0; i < m.size(); ++i) {
      if (!m[i].IsFile()) continue;
      m[i].dev = 2;
      if (m[i].ino == 0 || Pick(3) != 0) m[i].ino = 5000 + i;  // some keep SRC's grouping: already linked
    }
    MakeConsistent(src, m);
    return m;
  }

 private:
  uint32_t Pick(uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng_); }

  void Fill(const std::string& dir, int depth, Manifest& m) {
    for (const char* name : {"a", "a.b", "b", "c"}) {
      std::string path = dir.empty() ? name : dir + "/" + name;
      switch (Pick(7)) {
        case 0: continue;
        case 1:
        case 2: {
          Entry e = WithMtime(File(path, Pick(3)), Pick(2));
          e.mode = Pick(2) ? 0644 : 0600;
          e.hash = Hash128{Pick(3), 0};
          m.push_back(e);
          continue;
        }
        case 3:
          m.push_back(WithMtime(Dir(path), Pick(2)));
          if (depth < 2) Fill(path, depth + 1, m);
          continue;
        case 4: m.push_back(Link(path, Pick(2) ? "x" : "y")); continue;
        case 5: m.push_back(Special(path, EntryType::Fifo)); continue;
        default: m.push_back(Special(path, EntryType::CharDev, Pick(2))); continue;
      }
    }
  }

  // Same path, size and mtime: the same content (what the quick check relies on). Files of
  // one DST inode hold one content.
  static void MakeConsistent(const Manifest& src, Manifest& dst) {
    for (Entry& d : dst) {
      if (!d.IsFile()) continue;
      auto s = std::find_if(src.begin(), src.end(), [&](const Entry& e) { return e.path == d.path; });
      if (s != src.end() && s->IsFile() && s->size == d.size && s->mtime == d.mtime) d.hash = s->hash;
    }
    for (Entry& d : dst)
      for (const Entry& o : dst)
        if (d.IsFile() && o.IsFile() && d.ino == o.ino && &o < &d) {
          d.hash = o.hash;
          d.size = o.size;
          d.mtime = o.mtime;
          d.mode = o.mode;
        }
  }

  std::mt19937 rng_;
};

TEST(PlannerProperty, ThePlanMakesDestinationIdenticalToSource) {
  for (uint32_t seed = 0; seed < 3000; ++seed) {
    RandomTrees gen(seed);
    Manifest src = gen.Source();
    Manifest dst = gen.Destination(src);
    for (bool hard_links : {false, true}) {
      for (bool checksum : {false, true}) {
        PlanOptions opts;
        opts.hard_links = hard_links;
        opts.checksum = checksum;
        std::string why = plan_model::PlanMakesDestinationIdentical(src, dst, opts);
        if (!why.empty()) {
          auto dump = [](const Manifest& m) {
            std::string out;
            for (const Entry& e : m)
              out += "  " + e.path + " t" + std::to_string(int(e.type)) + " s" + std::to_string(e.size) + " m" +
                     std::to_string(e.mtime.KeyNs()) + " h" + (e.hash ? std::to_string(e.hash->lo) : "-") + " o" +
                     std::to_string(e.mode) + " i" + std::to_string(e.ino) + " L" + std::to_string(e.link_leader) +
                     " n" + std::to_string(e.nlink) + "\n";
            return out;
          };
          std::string ops;
          for (const std::string& o : PlanOps(src, dst, opts)) ops += "  " + o + "\n";
          FAIL() << why << " seed " << seed << (hard_links ? " -H" : "") << (checksum ? " -c" : "") << "\nsrc:\n"
                 << dump(src) << "dst:\n" << dump(dst) << "plan:\n" << ops;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ktsync
