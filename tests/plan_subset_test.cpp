// links: ktsync_transfer
#include "transfer/plan_subset.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <set>
#include <span>
#include <string>

#include "transfer/plan_check.h"
#include "transfer/wire.h"

namespace ktsync {
namespace {

Entry Make(std::string path, EntryType type) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = type == EntryType::Dir ? 0755 : 0644;
  e.mtime_ns = 1'700'000'000'000'000'000;
  if (type == EntryType::Symlink) e.set_link_target("target");
  return e;
}
Entry Dir(std::string p) { return Make(std::move(p), EntryType::Dir); }
Entry File(std::string p, uint64_t size = 10) {
  Entry e = Make(std::move(p), EntryType::File);
  e.size = size;
  return e;
}

// The shape of a push: the client encodes the subset, the server decodes it into a fresh
// manifest with the placement rules every hostile peer faces.
Manifest ThroughTheWire(const Manifest& m) {
  Manifest out;
  std::span<const Entry> rest(m);
  while (!rest.empty()) {
    std::string payload;
    size_t n = EncodeEntryBatch(rest, payload);
    DecodeEntryBatch(payload, out);
    rest = rest.subspan(n);
  }
  return out;
}

std::vector<std::string> Paths(const Manifest& m) {
  std::vector<std::string> out;
  for (const Entry& e : m) out.push_back(e.path);
  return out;
}

Manifest AllEntries(const PlanSubset& s, const Manifest& src) { return SubsetEntries(s, src, 0, SIZE_MAX); }

// Every renumbered index points at the same entry it pointed at before.
void ExpectConsistent(const PlanSubset& s, const Plan& plan, const Manifest& src) {
  const Manifest entries = AllEntries(s, src);
  ASSERT_EQ(entries.size(), s.original.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_GE(s.original[i], 0);
    ASSERT_LT(static_cast<size_t>(s.original[i]), src.size());
    if (i > 0) {
      EXPECT_LT(s.original[i - 1], s.original[i]) << "order must be kept";
    }
    const Entry& orig = src[static_cast<size_t>(s.original[i])];
    EXPECT_EQ(entries[i].path, orig.path);
    EXPECT_EQ(entries[i].type, orig.type);
    int64_t leader = entries[i].link_leader;
    if (leader >= 0) {
      ASSERT_LT(static_cast<size_t>(leader), entries.size());
      EXPECT_EQ(s.original[static_cast<size_t>(leader)], orig.link_leader) << orig.path;
    } else {
      EXPECT_EQ(leader, -1);
    }
  }
  ASSERT_EQ(s.plan.actions.size(), plan.actions.size());
  for (size_t k = 0; k < plan.actions.size(); ++k) {
    const Action& before = plan.actions[k];
    const Action& after = s.plan.actions[k];
    EXPECT_EQ(after.kind, before.kind);
    EXPECT_EQ(after.dst, before.dst);
    EXPECT_EQ(after.changes, before.changes);
    if (before.src < 0) {
      EXPECT_EQ(after.src, -1);
    } else {
      ASSERT_GE(after.src, 0);
      ASSERT_LT(static_cast<size_t>(after.src), entries.size());
      EXPECT_EQ(s.original[static_cast<size_t>(after.src)], before.src);
    }
  }
}

// "", a, a/b, a/b/c, a/b/c/f, a/x, d, d/g, z
Manifest Nested() {
  return {Dir(""), Dir("a"), Dir("a/b"), Dir("a/b/c"), File("a/b/c/f"), File("a/x"), Dir("d"), File("d/g"), File("z")};
}

TEST(PlanSubsetTest, EmptyPlanKeepsOnlyTheRoot) {
  Manifest src = Nested();
  PlanSubset s = SubsetForPlan(Plan{}, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), std::vector<std::string>{""});
  EXPECT_EQ(s.original, std::vector<int64_t>{0});
  EXPECT_TRUE(s.plan.actions.empty());
}

TEST(PlanSubsetTest, KeepsEachReferencedEntryAndAllItsAncestorsOnly) {
  Manifest src = Nested();
  Plan plan;
  plan.actions = {{ActionKind::SendFile, 4, -1, kChNew}, {ActionKind::Delete, -1, 3, 0}, {ActionKind::MetaOnly, 8, 2, kChMtime}};
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), (std::vector<std::string>{"", "a", "a/b", "a/b/c", "a/b/c/f", "z"}));
  EXPECT_EQ(s.original, (std::vector<int64_t>{0, 1, 2, 3, 4, 8}));
  ExpectConsistent(s, plan, src);
  EXPECT_EQ(s.plan.actions[0].src, 4);
  EXPECT_EQ(s.plan.actions[1].src, -1);
  EXPECT_EQ(s.plan.actions[1].dst, 3) << "destination indices are not renumbered";
  EXPECT_EQ(s.plan.actions[2].src, 5);
}

TEST(PlanSubsetTest, DirectoryActionKeepsTheDirectoryButNotItsChildren) {
  Manifest src = Nested();
  Plan plan;
  plan.actions = {{ActionKind::DirMeta, 6, 4, kChMtime}};
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), (std::vector<std::string>{"", "d"}));
  ExpectConsistent(s, plan, src);
}

TEST(PlanSubsetTest, PlanTotalsAndActionOrderAreKept) {
  Manifest src = Nested();
  Plan plan;
  plan.actions = {{ActionKind::SendFile, 7, -1, kChNew}, {ActionKind::SendFile, 5, -1, kChNew}, {ActionKind::DirMeta, 0, 0, kChMtime}};
  plan.totals.files_to_send = 2;
  plan.totals.bytes_to_send = 20;
  plan.totals.meta_only = 1;
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(s.plan.totals.files_to_send, 2u);
  EXPECT_EQ(s.plan.totals.bytes_to_send, 20u);
  EXPECT_EQ(s.plan.totals.meta_only, 1u);
  ExpectConsistent(s, plan, src);
}

// "", p, p/leader, p/other, q, q/follower -> leader
Manifest WithHardLink() {
  Manifest m = {Dir(""), Dir("p"), File("p/leader"), File("p/other"), Dir("q"), File("q/follower")};
  m[5].link_leader = 2;
  return m;
}

TEST(PlanSubsetTest, HardLinkKeepsItsLeaderAndTheLeadersAncestors) {
  Manifest src = WithHardLink();
  Plan plan;
  plan.actions = {{ActionKind::HardLink, 5, -1, kChNew}};
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), (std::vector<std::string>{"", "p", "p/leader", "q", "q/follower"}));
  EXPECT_EQ(AllEntries(s, src)[4].link_leader, 2) << "leader renumbered from 2 to its new index";
  EXPECT_EQ(AllEntries(s, src)[2].link_leader, -1);
  ExpectConsistent(s, plan, src);
}

TEST(PlanSubsetTest, LinkLeaderRenumberedWhenTheLeaderMovesDown) {
  Manifest src = {Dir(""), File("a"), Dir("b"), File("b/leader"), File("c")};
  src[4].link_leader = 3;
  Plan plan;
  plan.actions = {{ActionKind::HardLink, 4, -1, kChNew}};
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), (std::vector<std::string>{"", "b", "b/leader", "c"}));
  EXPECT_EQ(AllEntries(s, src)[3].link_leader, 2);
  ExpectConsistent(s, plan, src);
}

TEST(PlanSubsetTest, LinkLeaderBecomesMinusOneWhenTheLeaderIsNotInTheSubset) {
  Manifest src = WithHardLink();
  Plan plan;
  // Not a HardLink action: the leader is not needed, so it is not sent, and the follower
  // must not point at an index that means something else in the subset.
  plan.actions = {{ActionKind::SendFile, 5, -1, kChNew}};
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(Paths(AllEntries(s, src)), (std::vector<std::string>{"", "q", "q/follower"}));
  EXPECT_EQ(AllEntries(s, src)[2].link_leader, -1);
  ExpectConsistent(s, plan, src);
}

TEST(PlanSubsetTest, SlicesConcatenateToTheWholeSubsetWithLeadersAcrossSlices) {
  Manifest src = WithHardLink();
  Plan plan;
  plan.actions = {{ActionKind::HardLink, 5, -1, kChNew}, {ActionKind::SendFile, 3, 3, kChSize}};
  PlanSubset s = SubsetForPlan(plan, src);
  Manifest whole = AllEntries(s, src), joined;
  for (size_t begin = 0; begin < s.original.size(); begin += 2)
    for (Entry& e : SubsetEntries(s, src, begin, begin + 2)) joined.push_back(std::move(e));
  ASSERT_EQ(Paths(joined), Paths(whole));
  for (size_t i = 0; i < whole.size(); ++i) EXPECT_EQ(joined[i].link_leader, whole[i].link_leader) << whole[i].path;
  EXPECT_TRUE(SubsetEntries(s, src, s.original.size(), s.original.size() + 5).empty());
}

TEST(PlanSubsetTest, SubsetPassesTheWirePlacementRules) {
  Manifest src = WithHardLink();
  Plan plan;
  plan.actions = {{ActionKind::HardLink, 5, -1, kChNew}, {ActionKind::SendFile, 3, 3, kChSize}};
  PlanSubset s = SubsetForPlan(plan, src);
  Manifest got = ThroughTheWire(AllEntries(s, src));
  EXPECT_EQ(Paths(got), Paths(AllEntries(s, src)));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].link_leader, AllEntries(s, src)[i].link_leader);
}

// ---- Property: every plan PlanMirror makes, subset, survives the wire and the check ---------

class TreeGen {
 public:
  explicit TreeGen(uint32_t seed) : rng_(seed) {}

  Manifest Tree(bool hard_links) {
    Manifest m;
    m.push_back(Dir(""));
    Fill("", 0, m);
    if (hard_links) {
      std::vector<int64_t> files;
      for (size_t i = 0; i < m.size(); ++i) {
        if (!m[i].IsFile()) continue;
        if (!files.empty() && Pick(3) == 0) {
          m[i].link_leader = files[Pick(files.size())];
          m[i].size = m[static_cast<size_t>(m[i].link_leader)].size;
        } else {
          files.push_back(static_cast<int64_t>(i));
        }
      }
    }
    return m;
  }

 private:
  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }

  void Fill(const std::string& dir, int depth, Manifest& m) {
    static const char* kNames[] = {"a", "a.b", "b", "c", "z"};  // "a.b" sorts after "a/..."
    for (const char* name : kNames) {
      if (Pick(3) == 0) continue;
      std::string path = dir.empty() ? name : dir + "/" + name;
      size_t kind = depth < 3 ? Pick(5) : 1 + Pick(4);
      switch (kind) {
        case 0: m.push_back(Dir(path)); Fill(path, depth + 1, m); break;
        case 1: case 2:
          m.push_back(File(path, Pick(3)));
          m.back().mtime_ns += static_cast<int64_t>(Pick(2));
          m.back().mode = Pick(2) ? 0644 : 0600;
          break;
        case 3: m.push_back(SymlinkAt(path)); break;
        default: m.push_back(Make(path, EntryType::Fifo)); break;
      }
    }
  }
  static Entry SymlinkAt(const std::string& path) {
    Entry e = Make(path, EntryType::Symlink);
    e.set_link_target(path.size() % 2 ? "x" : "y");
    return e;
  }

  std::mt19937 rng_;
};

TEST(PlanSubsetTest, EveryMirrorPlanSubsetSurvivesTheWireAndTheReceiversCheck) {
  std::set<ActionKind> seen;
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(seed);
    TreeGen gen(seed);
    bool hard_links = seed % 2 == 0;
    Manifest src = gen.Tree(hard_links);
    Manifest dst = gen.Tree(false);
    PlanOptions opts;
    opts.hard_links = hard_links;
    Plan plan = PlanMirror(src, dst, opts);
    for (const Action& a : plan.actions) seen.insert(a.kind);
    PlanSubset s = SubsetForPlan(plan, src);
    ExpectConsistent(s, plan, src);
    Manifest received = ThroughTheWire(AllEntries(s, src));
    std::string payload;
    ASSERT_EQ(EncodePlanBatch(s.plan.actions, payload), s.plan.actions.size());
    Plan got;
    DecodePlanBatch(payload, received.size(), dst.size(), got.actions);
    EXPECT_NO_THROW(CheckReceivedPlan(got, received, dst));
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
  EXPECT_EQ(seen.size(), 9u) << "the generated trees should exercise every action kind";
}

// ---- Scale -----------------------------------------------------------------------------

TEST(PlanSubsetTest, HundredThousandChangedFilesInOneDirectory) {
  constexpr int kFiles = 100'000;
  Manifest src;
  src.reserve(kFiles + 1);
  src.push_back(Dir(""));
  char name[16];
  for (int i = 0; i < kFiles; ++i) {
    std::snprintf(name, sizeof name, "f%06d", i);
    src.push_back(File(name));
  }
  Plan plan;
  for (int i = 1; i <= kFiles; ++i) plan.actions.push_back({ActionKind::SendFile, i, i, kChSize});
  plan.actions.push_back({ActionKind::DirMeta, 0, 0, kChMtime});
  PlanSubset s = SubsetForPlan(plan, src);
  ASSERT_EQ(AllEntries(s, src).size(), src.size());
  EXPECT_EQ(AllEntries(s, src).back().path, "f099999");
  for (size_t k = 0; k < plan.actions.size(); ++k) EXPECT_EQ(s.plan.actions[k].src, plan.actions[k].src);
}

TEST(PlanSubsetTest, DeepChainWithEveryLevelReferenced) {
  constexpr int kDepth = 2000;
  Manifest src;
  src.push_back(Dir(""));
  std::string path;
  for (int i = 0; i < kDepth; ++i) {
    path += path.empty() ? "d" : "/d";
    src.push_back(Dir(path));
  }
  src.push_back(File(path + "/f"));
  Plan plan;
  plan.actions.push_back({ActionKind::SendFile, kDepth + 1, -1, kChNew});
  for (int i = kDepth; i >= 1; --i) plan.actions.push_back({ActionKind::MkDir, i, -1, kChNew});
  PlanSubset s = SubsetForPlan(plan, src);
  EXPECT_EQ(AllEntries(s, src).size(), src.size());
  ExpectConsistent(s, plan, src);
}

}  // namespace
}  // namespace ktsync
