// links: ktsync_manifest
// Pure tests of diff/plan (src/manifest/plan.h): manifests are built by hand, no filesystem.
#include "manifest/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Entry Make(std::string path, EntryType type) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = type == EntryType::Dir ? 0755 : 0644;
  e.mtime_ns = 1'000'000'000;
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
Entry WithMtime(Entry e, int64_t m) { e.mtime_ns = m; return e; }
Entry WithMode(Entry e, uint32_t m) { e.mode = m; return e; }
Entry WithHash(Entry e, uint64_t h) { e.hash = Hash128{h, h}; return e; }
Entry WithIno(Entry e, uint64_t ino) { e.dev = 1; e.ino = ino; return e; }
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

// "kind path" per action, the path taken from SRC when the action has one, root shown as ".".
std::vector<std::string> Ops(const Plan& plan, const Manifest& src, const Manifest& dst) {
  std::vector<std::string> out;
  for (const Action& a : plan.actions) {
    const std::string& p = a.src >= 0 ? src[a.src].path : dst[a.dst].path;
    out.push_back(std::string(KindName(a.kind)) + " " + (p.empty() ? "." : p));
  }
  return out;
}

std::vector<std::string> PlanOps(const Manifest& src, const Manifest& dst,
                                 const PlanOptions& opts = {}) {
  return Ops(PlanMirror(src, dst, opts), src, dst);
}

TEST(PlanMirror, IdenticalTreesNeedNothing) {
  Manifest m = {Root(), Dir("d"), File("d/f"), Link("l", "d/f"), Special("p", EntryType::Fifo)};
  EXPECT_THAT(PlanOps(m, m), IsEmpty());
}

TEST(PlanMirror, NewFileIsSentAndParentMetaReapplied) {
  Manifest src = {Root(), File("a", 7)};
  Manifest dst = {Root()};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("send a", "dirmeta ."));
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::SendFile, 1, -1, kChNew}));
  EXPECT_EQ(plan.actions[1], (Action{ActionKind::DirMeta, 0, 0, 0}));
}

TEST(PlanMirror, CreatesNewDirSymlinkAndSpecials) {
  Manifest src = {Root(), Dir("d"), Special("d/dev", EntryType::CharDev, 5),
                  Special("d/fifo", EntryType::Fifo), Link("d/l", "x")};
  Manifest dst = {Root()};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("mkdir d", "special d/dev", "special d/fifo",
                                               "symlink d/l", "dirmeta d", "dirmeta ."));
  for (const Action& a : plan.actions) {
    if (a.src != 0) {
      EXPECT_EQ(a.changes, kChNew) << KindName(a.kind);
    }
  }
}

TEST(PlanMirror, DeletesExtraneousDeepestFirst) {
  Manifest src = {Root(), File("keep")};
  Manifest dst = {Root(), Dir("d"), File("d/x"), Dir("d/y"), File("d/y/z"), File("e"),
                  File("keep")};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("delete e", "delete d/y/z", "delete d/y",
                                             "delete d/x", "delete d", "dirmeta ."));
}

TEST(PlanMirror, KeepsExtraneousWithoutDelete) {
  Manifest src = {Root(), File("keep")};
  Manifest dst = {Root(), Dir("d"), File("d/x"), File("keep")};
  PlanOptions opts;
  opts.delete_extraneous = false;
  EXPECT_THAT(PlanOps(src, dst, opts), IsEmpty());
}

TEST(PlanMirror, RenameIsDeletePlusCreate) {
  Manifest src = {Root(), File("new-name")};
  Manifest dst = {Root(), File("old-name")};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("send new-name", "delete old-name", "dirmeta ."));
}

TEST(PlanMirror, FileBecomesDir) {
  Manifest src = {Root(), Dir("a"), File("a/x")};
  Manifest dst = {Root(), File("a")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst),
              ElementsAre("remove a", "mkdir a", "send a/x", "dirmeta a", "dirmeta ."));
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::RemoveForType, -1, 1, 0}));
  EXPECT_EQ(plan.actions[1], (Action{ActionKind::MkDir, 1, -1, kChNew}));
}

TEST(PlanMirror, DirBecomesFileRemovingSubtreeDeepestFirstEvenWithoutDelete) {
  Manifest src = {Root(), File("a"), File("b")};
  Manifest dst = {Root(), Dir("a"), File("a/x"), Dir("a/y"), File("a/y/z"), File("b")};
  PlanOptions opts;
  opts.delete_extraneous = false;
  EXPECT_THAT(PlanOps(src, dst, opts),
              ElementsAre("remove a/y/z", "remove a/y", "remove a/x", "remove a", "send a",
                          "dirmeta ."));
}

TEST(PlanMirror, FileBecomesSymlink) {
  Manifest src = {Root(), Link("a", "t")};
  Manifest dst = {Root(), File("a")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("remove a", "symlink a", "dirmeta ."));
  EXPECT_EQ(plan.actions[1], (Action{ActionKind::Symlink, 1, -1, kChNew}));
}

TEST(PlanMirror, SymlinkBecomesDir) {
  Manifest src = {Root(), Dir("a"), File("a/f")};
  Manifest dst = {Root(), Link("a", "elsewhere"), File("b")};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("remove a", "mkdir a", "send a/f", "delete b",
                                             "dirmeta a", "dirmeta ."));
}

TEST(PlanMirror, EqualHashesWithDifferentMtimeIsMetaOnly) {
  Manifest src = {Root(), WithHash(WithMtime(File("f"), 5), 42)};
  Manifest dst = {Root(), WithHash(WithMtime(File("f"), 9), 42)};
  Plan plan = PlanMirror(src, dst, {});
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::MetaOnly, 1, 1, kChMtime}));
}

TEST(PlanMirror, MissingHashIsSentNeverAssumedEqual) {
  Manifest src = {Root(), WithHash(WithMtime(File("f"), 5), 42)};
  Manifest dst = {Root(), WithMtime(File("f"), 9)};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("send f", "dirmeta ."));
  EXPECT_EQ(plan.actions[0].changes, kChMtime);
}

TEST(PlanMirror, DifferentHashesWithDifferentMtimeIsSent) {
  Manifest src = {Root(), WithHash(WithMtime(File("f"), 5), 1)};
  Manifest dst = {Root(), WithHash(WithMtime(File("f"), 9), 2)};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("send f", "dirmeta ."));
}

TEST(PlanMirror, ChecksumSendsSameSizeAndMtimeWithDifferentHash) {
  Manifest src = {Root(), WithHash(File("f"), 1)};
  Manifest dst = {Root(), WithHash(File("f"), 2)};
  PlanOptions opts;
  opts.checksum = true;
  Plan plan = PlanMirror(src, dst, opts);
  EXPECT_EQ(plan.actions.at(0), (Action{ActionKind::SendFile, 1, 1, kChChecksum}));
  EXPECT_THAT(PlanOps(src, dst), IsEmpty());  // without --checksum size+mtime decide
}

TEST(PlanMirror, ChecksumWithEqualHashesNeedsNothing) {
  Manifest src = {Root(), WithHash(File("f"), 1)};
  PlanOptions opts;
  opts.checksum = true;
  EXPECT_THAT(PlanOps(src, src, opts), IsEmpty());
}

TEST(PlanMirror, ChecksumWithMissingHashIsSent) {
  Manifest src = {Root(), File("f")};
  PlanOptions opts;
  opts.checksum = true;
  EXPECT_THAT(PlanOps(src, src, opts), ElementsAre("send f", "dirmeta ."));
}

TEST(PlanMirror, SizeChangeIsSentWithSizeAndMtimeBits) {
  Manifest src = {Root(), WithMtime(File("f", 10), 5)};
  Manifest dst = {Root(), WithMtime(File("f", 11), 9)};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_EQ(plan.actions.at(0), (Action{ActionKind::SendFile, 1, 1, kChSize | kChMtime}));
}

TEST(PlanMirror, MtimeWithinModifyWindowIsEqual) {
  Manifest src = {Root(), WithMtime(File("f"), 1'000'000'000)};
  Manifest dst = {Root(), WithMtime(File("f"), 1'900'000'000)};
  PlanOptions opts;
  opts.mtime_tolerance_ns = 1'000'000'000;
  EXPECT_THAT(PlanOps(src, dst, opts), IsEmpty());
}

TEST(PlanMirror, PermsOnlyIsMetaOnlyAndLeavesParentAlone) {
  Manifest src = {Root(), WithMode(File("f"), 0600)};
  Manifest dst = {Root(), File("f")};
  Plan plan = PlanMirror(src, dst, {});
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::MetaOnly, 1, 1, kChPerms}));
  PlanOptions no_perms;
  no_perms.perms = false;
  EXPECT_THAT(PlanOps(src, dst, no_perms), IsEmpty());
}

TEST(PlanMirror, OwnerAndGroupComparedOnlyWhenMirrored) {
  Entry s = File("f");
  s.uid = 1;
  s.gid = 2;
  Manifest src = {Root(), s};
  Manifest dst = {Root(), File("f")};
  EXPECT_THAT(PlanOps(src, dst), IsEmpty());
  PlanOptions opts;
  opts.owner = true;
  opts.group = true;
  EXPECT_EQ(PlanMirror(src, dst, opts).actions.at(0).changes, kChOwner | kChGroup);
}

TEST(PlanMirror, SymlinkTargetChangeReplacesIt) {
  Manifest src = {Root(), Link("l", "new")};
  Manifest dst = {Root(), Link("l", "old")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("symlink l", "dirmeta ."));
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::Symlink, 1, 1, kChTarget}));
}

TEST(PlanMirror, SymlinkMtimeOnlyIsMetaOnlyAndPermsIgnored) {
  Manifest src = {Root(), WithMode(WithMtime(Link("l", "t"), 5), 0777)};
  Manifest dst = {Root(), WithMode(Link("l", "t"), 0755)};
  Plan plan = PlanMirror(src, dst, {});
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::MetaOnly, 1, 1, kChMtime}));
}

TEST(PlanMirror, DeviceNumberChangeReplacesSpecial) {
  Manifest src = {Root(), Special("dev", EntryType::BlockDev, 7)};
  Manifest dst = {Root(), Special("dev", EntryType::BlockDev, 8)};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("special dev", "dirmeta ."));
}

TEST(PlanMirror, SpecialMetaOnlyAndTypeChange) {
  Manifest src = {Root(), WithMode(Special("p", EntryType::Fifo), 0600),
                  Special("s", EntryType::Socket)};
  Manifest dst = {Root(), Special("p", EntryType::Fifo), Special("s", EntryType::Fifo)};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("remove s", "meta p", "special s", "dirmeta ."));
}

TEST(PlanMirror, DirMetaForChangedDirsDeepestFirst) {
  Manifest src = {Root(), WithMtime(Dir("a"), 5), WithMtime(Dir("a/b"), 5), Dir("a/b/c"),
                  WithMtime(Dir("z"), 5)};
  Manifest dst = {Root(), Dir("a"), Dir("a/b"), Dir("a/b/c"), Dir("z")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("dirmeta z", "dirmeta a/b", "dirmeta a"));
  EXPECT_EQ(plan.actions[0].changes, kChMtime);
}

TEST(PlanMirror, DirMetaReappliedOnlyToDirectParentOfChangedChild) {
  Manifest src = {Root(), Dir("a"), Dir("a/b"), File("a/b/new"), Dir("c")};
  Manifest dst = {Root(), Dir("a"), Dir("a/b"), Dir("c"), File("c/old")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst),
              ElementsAre("send a/b/new", "delete c/old", "dirmeta c", "dirmeta a/b"));
  EXPECT_EQ(plan.actions[2].changes, 0);
}

TEST(PlanMirror, PhasesComeInDocumentedOrder) {
  Manifest src = {Root(),
                  Dir("a"),
                  WithIno(File("a/leader"), 1),
                  WithLeader(WithIno(File("a/link"), 1), 2),
                  WithMode(File("b"), 0600),
                  Dir("newdir"),
                  Link("sym", "x"),
                  Dir("t")};
  Manifest dst = {Root(), Dir("a"), File("b"), File("gone"), File("t")};
  PlanOptions opts;
  opts.hard_links = true;
  Plan plan = PlanMirror(src, dst, opts);
  EXPECT_THAT(Ops(plan, src, dst),
              ElementsAre("remove t", "mkdir newdir", "mkdir t", "send a/leader", "meta b",
                          "symlink sym", "hardlink a/link", "delete gone", "dirmeta t",
                          "dirmeta newdir", "dirmeta a", "dirmeta ."));
}

TEST(PlanMirror, CountsTotals) {
  Manifest src = {Root(),         File("changed", 30), WithMtime(Dir("d"), 5),
                  File("d/new", 100), Link("l", "x"),   Dir("nd"),
                  WithMode(File("perm"), 0600), File("same")};
  Manifest dst = {Root(), File("changed", 31), Dir("d"), File("old"), File("perm"),
                  File("same")};
  PlanTotals t = PlanMirror(src, dst, {}).totals;
  EXPECT_EQ(t.files_to_send, 2u);
  EXPECT_EQ(t.bytes_to_send, 130u);
  EXPECT_EQ(t.to_delete, 1u);
  EXPECT_EQ(t.meta_only, 2u);      // perm + dir d; root (touched only) and new nd not counted
  EXPECT_EQ(t.created_other, 2u);  // symlink l + mkdir nd
}

TEST(PlanMirror, RootIsNeverDeletedOrCreated) {
  Manifest src = {WithMtime(Root(), 5)};
  Manifest dst = {Root(), File("x")};
  Plan plan = PlanMirror(src, dst, {});
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("delete x", "dirmeta ."));
  EXPECT_EQ(plan.actions[1], (Action{ActionKind::DirMeta, 0, 0, kChMtime}));

  Manifest empty_dst;
  Plan fresh = PlanMirror(src, empty_dst, {});
  ASSERT_EQ(fresh.actions.size(), 1u);
  EXPECT_EQ(fresh.actions[0], (Action{ActionKind::DirMeta, 0, -1, kChNew}));
}

TEST(PlanMirror, NewHardLinkFollowerIsLinkedAfterLeaderIsSent) {
  Manifest src = {Root(), WithIno(File("a", 50), 1), WithLeader(WithIno(File("b", 50), 1), 1)};
  Manifest dst = {Root()};
  PlanOptions opts;
  opts.hard_links = true;
  Plan plan = PlanMirror(src, dst, opts);
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("send a", "hardlink b", "dirmeta ."));
  EXPECT_EQ(plan.actions[1], (Action{ActionKind::HardLink, 2, -1, kChNew}));
  EXPECT_EQ(plan.totals.files_to_send, 1u);
  EXPECT_EQ(plan.totals.bytes_to_send, 50u);
}

TEST(PlanMirror, HardLinkAlreadyInPlaceNeedsNothing) {
  Manifest src = {Root(), WithIno(File("a"), 1), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 9), WithIno(File("b"), 9)};
  PlanOptions opts;
  opts.hard_links = true;
  EXPECT_THAT(PlanOps(src, dst, opts), IsEmpty());
}

TEST(PlanMirror, HardLinkRedoneWhenDstIsSeparateInode) {
  Manifest src = {Root(), WithIno(File("a"), 1), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 8), WithIno(File("b"), 9)};
  PlanOptions opts;
  opts.hard_links = true;
  Plan plan = PlanMirror(src, dst, opts);
  EXPECT_THAT(Ops(plan, src, dst), ElementsAre("hardlink b", "dirmeta ."));
  EXPECT_EQ(plan.actions[0], (Action{ActionKind::HardLink, 2, 2, 0}));
}

TEST(PlanMirror, HardLinkRedoneWhenLeaderIsResent) {
  Manifest src = {Root(), WithIno(File("a", 20), 1), WithLeader(WithIno(File("b", 20), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a", 10), 9), WithIno(File("b", 10), 9)};
  PlanOptions opts;
  opts.hard_links = true;
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("send a", "hardlink b", "dirmeta ."));
}

TEST(PlanMirror, HardLinkNotTrustedWithoutInodeIdentity) {
  Manifest src = {Root(), File("a"), WithLeader(File("b"), 1)};
  Manifest dst = {Root(), File("a"), File("b")};  // ino 0: identity unknown
  PlanOptions opts;
  opts.hard_links = true;
  EXPECT_THAT(PlanOps(src, dst, opts), ElementsAre("hardlink b", "dirmeta ."));
}

TEST(PlanMirror, KeepsDstContentsBeneathAMountPointSrcDidNotDescend) {
  Entry mnt = Dir("mnt");
  mnt.contents_skipped = true;
  Manifest src = {Root(), mnt, File("z")};
  Manifest dst = {Root(), Dir("mnt"), File("mnt/data"), Dir("mnt/sub"), File("mnt/sub/x"), File("z")};
  EXPECT_THAT(PlanOps(src, dst, PlanOptions{}), IsEmpty());
}

// A peer's DST manifest carries no inode numbers, but its owner marked the link groups.
TEST(PlanMirror, HardLinkInPlaceOnARemoteDestinationNeedsNothing) {
  Manifest src = {Root(), WithIno(File("a"), 1), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), File("a"), WithLeader(File("b"), 1)};
  PlanOptions opts;
  opts.hard_links = true;
  EXPECT_THAT(PlanOps(src, dst, opts), IsEmpty());
}

TEST(PlanMirror, HardLinkReplacesEntryOfOtherType) {
  Manifest src = {Root(), WithIno(File("a"), 1), WithLeader(WithIno(File("b"), 1), 1)};
  Manifest dst = {Root(), WithIno(File("a"), 9), Dir("b"), File("b/x")};
  PlanOptions opts;
  opts.hard_links = true;
  EXPECT_THAT(PlanOps(src, dst, opts),
              ElementsAre("remove b/x", "remove b", "hardlink b", "dirmeta ."));
}

TEST(PlanMirror, LinkLeaderIgnoredWithoutHardLinks) {
  Manifest src = {Root(), File("a"), WithLeader(File("b"), 1)};
  Manifest dst = {Root()};
  EXPECT_THAT(PlanOps(src, dst), ElementsAre("send a", "send b", "dirmeta ."));
}

TEST(PlanMirror, RejectsManifestOutOfPathOrder) {
  Manifest bad = {Root(), File("b"), File("a")};
  Manifest dup = {Root(), File("a"), File("a")};
  Manifest rootless = {File("a")};
  Manifest ok = {Root()};
  EXPECT_THROW(PlanMirror(bad, ok, {}), Error);
  EXPECT_THROW(PlanMirror(ok, dup, {}), Error);
  EXPECT_THROW(PlanMirror(rootless, ok, {}), Error);
  EXPECT_THROW(ListHashNeeds(bad, ok, {}), Error);
}

TEST(ListHashNeeds, ListsSameSizePairsWithDifferentMtimeLackingHashes) {
  Manifest src = {Root(),
                  WithMtime(File("a"), 5),               // mtime differs, no hashes
                  WithHash(WithMtime(File("b"), 5), 1),  // mtime differs, src hashed
                  WithMtime(File("c", 3), 5),            // size differs: no need
                  File("d"),                             // identical: no need
                  WithMtime(Link("e", "t"), 5)};         // not a file
  Manifest dst = {Root(), File("a"), File("b"), File("c"), File("d"), Link("e", "t")};
  HashNeeds needs = ListHashNeeds(src, dst, {});
  EXPECT_THAT(needs.src, ElementsAre(1));
  EXPECT_THAT(needs.dst, ElementsAre(1, 2));
}

TEST(ListHashNeeds, ChecksumNeedsEverySameSizePair) {
  Manifest src = {Root(), File("a"), File("b", 3), WithHash(File("c"), 1), File("only")};
  Manifest dst = {Root(), File("a"), File("b"), File("c")};
  PlanOptions opts;
  opts.checksum = true;
  HashNeeds needs = ListHashNeeds(src, dst, opts);
  EXPECT_THAT(needs.src, ElementsAre(1));
  EXPECT_THAT(needs.dst, ElementsAre(1, 3));
}

TEST(ListHashNeeds, SkipsHardLinkFollowers) {
  Manifest src = {Root(), File("a"), WithLeader(File("b"), 1)};
  PlanOptions opts;
  opts.checksum = true;
  opts.hard_links = true;
  HashNeeds needs = ListHashNeeds(src, src, opts);
  EXPECT_THAT(needs.src, ElementsAre(1));
  EXPECT_THAT(needs.dst, ElementsAre(1));
}

}  // namespace
}  // namespace ktsync
