// links: ktsync_transfer
#include "transfer/plan_check.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "util/error.h"

namespace ktsync {
namespace {

Entry Make(std::string path, EntryType type) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = type == EntryType::Dir ? 0755 : 0644;
  if (type == EntryType::Symlink) e.set_link_target("t");
  return e;
}

// Source and destination side by side; the same path has the same index on both sides up
// to "h", then they differ.
//   src: 0 ""  1 d  2 d/f  3 l(symlink)  4 p(fifo)  5 c(chardev)  6 h(file, link to 2)  7 n(dir)
//        8 s(file, link to dir 1)  9 w(file)  10 y(file)
//   dst: 0 ""  1 d  2 d/f  3 l(symlink)  4 p(fifo)  5 c(blockdev)  6 e(file)  7 w(dir)
//        8 y(symlink)
struct Trees {
  Manifest src, dst;
  Trees() {
    src = {Make("", EntryType::Dir),     Make("d", EntryType::Dir),     Make("d/f", EntryType::File),
           Make("l", EntryType::Symlink), Make("p", EntryType::Fifo),    Make("c", EntryType::CharDev),
           Make("h", EntryType::File),    Make("n", EntryType::Dir),     Make("s", EntryType::File),
           Make("w", EntryType::File),    Make("y", EntryType::File)};
    src[6].link_leader = 2;
    src[8].link_leader = 1;  // not a file: only a hostile peer sends this
    dst = {Make("", EntryType::Dir),     Make("d", EntryType::Dir),  Make("d/f", EntryType::File),
           Make("l", EntryType::Symlink), Make("p", EntryType::Fifo), Make("c", EntryType::BlockDev),
           Make("e", EntryType::File),    Make("w", EntryType::Dir),  Make("y", EntryType::Symlink)};
  }
};

enum : int64_t { kRoot = 0, kD = 1, kF = 2, kL = 3, kP = 4, kC = 5, kH = 6, kN = 7, kS = 8, kW = 9, kY = 10 };
enum : int64_t { kDstE = 6, kDstW = 7, kDstY = 8 };

void ExpectAccepted(const Action& a) {
  Trees t;
  Plan plan;
  plan.actions = {a};
  EXPECT_NO_THROW(CheckReceivedPlan(plan, t.src, t.dst))
      << "kind " << static_cast<int>(a.kind) << " src " << a.src << " dst " << a.dst;
}

void ExpectRejected(const Action& a, const std::string& needle) {
  Trees t;
  Plan plan;
  // A harmless action first, so the message must name the offending one by its position.
  plan.actions = {{ActionKind::DirMeta, kRoot, kRoot, kChMtime}, a};
  try {
    CheckReceivedPlan(plan, t.src, t.dst);
    ADD_FAILURE() << "accepted kind " << static_cast<int>(a.kind) << " src " << a.src << " dst " << a.dst
                  << "; expected \"" << needle << "\"";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), ExitCode::StreamData) << what;
    EXPECT_NE(what.find("plan action #1"), std::string::npos) << what;
    EXPECT_NE(what.find(needle), std::string::npos) << what;
  }
}

TEST(PlanCheckTest, AcceptsEveryWellFormedActionKind) {
  ExpectAccepted({ActionKind::RemoveForType, -1, kDstW, 0});
  ExpectAccepted({ActionKind::MkDir, kN, -1, kChNew});
  ExpectAccepted({ActionKind::SendFile, kF, -1, kChNew});
  ExpectAccepted({ActionKind::SendFile, kF, kF, kChSize});
  ExpectAccepted({ActionKind::MetaOnly, kF, kF, kChMtime});
  ExpectAccepted({ActionKind::MetaOnly, kD, kD, kChPerms});
  ExpectAccepted({ActionKind::MetaOnly, kL, kL, kChOwner});
  ExpectAccepted({ActionKind::Symlink, kL, -1, kChNew});
  ExpectAccepted({ActionKind::Symlink, kL, kL, kChTarget});
  ExpectAccepted({ActionKind::Special, kP, -1, kChNew});
  ExpectAccepted({ActionKind::Special, kP, kP, 0});
  ExpectAccepted({ActionKind::Special, kC, kC, 0});  // char device replacing a block device
  ExpectAccepted({ActionKind::HardLink, kH, -1, kChNew});
  ExpectAccepted({ActionKind::Delete, -1, kDstE, 0});
  ExpectAccepted({ActionKind::Delete, -1, kF, 0});
  ExpectAccepted({ActionKind::DirMeta, kD, kD, kChMtime});
  ExpectAccepted({ActionKind::DirMeta, kRoot, kRoot, kChMtime});
  ExpectAccepted({ActionKind::DirMeta, kN, -1, kChNew});
}

TEST(PlanCheckTest, AcceptsAnEmptyPlan) {
  Trees t;
  EXPECT_NO_THROW(CheckReceivedPlan(Plan{}, t.src, t.dst));
}

TEST(PlanCheckTest, AcceptsWhatPlanMirrorProduces) {
  Manifest src = {Make("", EntryType::Dir),  Make("a", EntryType::File),    Make("d", EntryType::Dir),
                  Make("d/f", EntryType::File), Make("h", EntryType::File), Make("l", EntryType::Symlink),
                  Make("n", EntryType::Dir),  Make("p", EntryType::Fifo),    Make("q", EntryType::Socket),
                  Make("w", EntryType::File)};
  src[4].link_leader = 3;
  Manifest dst = {Make("", EntryType::Dir),  Make("d", EntryType::Dir),     Make("d/f", EntryType::File),
                  Make("e", EntryType::File), Make("l", EntryType::Symlink), Make("p", EntryType::Fifo),
                  Make("w", EntryType::Dir),  Make("w/x", EntryType::File)};
  dst[2].size = 99;
  dst[4].set_link_target("other");
  dst[5].mode = 0600;
  PlanOptions opts;
  opts.hard_links = true;
  Plan plan = PlanMirror(src, dst, opts);
  std::set<ActionKind> kinds;
  for (const Action& a : plan.actions) kinds.insert(a.kind);
  EXPECT_EQ(kinds.size(), 9u) << "every kind should occur";
  EXPECT_NO_THROW(CheckReceivedPlan(plan, src, dst));
}

TEST(PlanCheckTest, RejectsOutOfRangeIndices) {
  Trees t;
  int64_t src_n = static_cast<int64_t>(t.src.size());
  int64_t dst_n = static_cast<int64_t>(t.dst.size());
  ExpectRejected({ActionKind::SendFile, src_n, -1, kChNew}, "source index out of range");
  ExpectRejected({ActionKind::SendFile, INT64_MAX, -1, kChNew}, "source index out of range");
  ExpectRejected({ActionKind::Delete, -1, dst_n, 0}, "destination index out of range");
  ExpectRejected({ActionKind::MetaOnly, kF, dst_n + 5, kChMtime}, "destination index out of range");
}

TEST(PlanCheckTest, RejectsDeletionThatNamesASourceEntry) {
  ExpectRejected({ActionKind::Delete, kF, kF, 0}, "deletion must name only a destination entry");
  ExpectRejected({ActionKind::RemoveForType, kW, -1, 0}, "deletion must name only a destination entry");
  ExpectRejected({ActionKind::Delete, kF, -1, 0}, "deletion must name only a destination entry");
}

TEST(PlanCheckTest, RejectsDeletingTheRoot) {
  ExpectRejected({ActionKind::Delete, -1, kRoot, 0}, "the root cannot be deleted");
  ExpectRejected({ActionKind::RemoveForType, -1, kRoot, 0}, "the root cannot be deleted");
}

TEST(PlanCheckTest, RejectsFileTransferOfANonFile) {
  ExpectRejected({ActionKind::SendFile, kD, -1, kChNew}, "file transfer needs a regular source file");
  ExpectRejected({ActionKind::SendFile, kL, kL, kChNew}, "file transfer needs a regular source file");
  ExpectRejected({ActionKind::SendFile, kP, -1, kChNew}, "file transfer needs a regular source file");
  ExpectRejected({ActionKind::SendFile, -1, kF, kChNew}, "file transfer needs a regular source file");
  // Over a directory: the plan removes it first (RemoveForType) and sends with dst -1.
  ExpectRejected({ActionKind::SendFile, kW, kDstW, kChNew}, "file transfer needs a regular source file");
}

TEST(PlanCheckTest, RejectsMkDirOverAnExistingEntryOrOfANonDirectory) {
  ExpectRejected({ActionKind::MkDir, kD, kD, kChNew}, "mkdir needs a new source directory");
  ExpectRejected({ActionKind::MkDir, kRoot, -1, kChNew}, "mkdir needs a new source directory");
  ExpectRejected({ActionKind::MkDir, kF, -1, kChNew}, "mkdir needs a new source directory");
  ExpectRejected({ActionKind::MkDir, -1, kDstW, kChNew}, "mkdir needs a new source directory");
}

TEST(PlanCheckTest, RejectsMetaOnlyAcrossTypesOrWithoutBothSides) {
  ExpectRejected({ActionKind::MetaOnly, kW, kDstW, kChMtime}, "metadata update needs entries of the same type");
  ExpectRejected({ActionKind::MetaOnly, kC, kC, kChMtime}, "metadata update needs entries of the same type");
  ExpectRejected({ActionKind::MetaOnly, kF, -1, kChMtime}, "metadata update needs entries of the same type");
}

TEST(PlanCheckTest, RejectsSymlinkActionOnANonSymlink) {
  ExpectRejected({ActionKind::Symlink, kF, -1, kChNew}, "symlink action needs a source symlink");
  ExpectRejected({ActionKind::Symlink, kF, kF, kChTarget}, "symlink action needs a source symlink");
  ExpectRejected({ActionKind::Symlink, kD, kD, kChNew}, "symlink action needs a source symlink");
}

TEST(PlanCheckTest, RejectsSymlinkReplacingANonSymlinkInPlace) {
  Trees t;
  t.src[kY] = Make("y", EntryType::Symlink);
  Plan plan;
  plan.actions = {{ActionKind::Symlink, kY, kDstY, kChNew}};
  EXPECT_NO_THROW(CheckReceivedPlan(plan, t.src, t.dst));
  t.src[kW] = Make("w", EntryType::Symlink);
  plan.actions = {{ActionKind::Symlink, kW, kDstW, kChNew}};  // dst "w" is a directory
  EXPECT_THROW(CheckReceivedPlan(plan, t.src, t.dst), Error);
}

TEST(PlanCheckTest, RejectsSpecialActionOnARegularFileOrDirectory) {
  ExpectRejected({ActionKind::Special, kF, -1, kChNew}, "special-file action needs a special file");
  ExpectRejected({ActionKind::Special, kD, kD, kChNew}, "special-file action needs a special file");
}

TEST(PlanCheckTest, RejectsHardLinkWithoutALeaderOrWithANonFileLeader) {
  ExpectRejected({ActionKind::HardLink, kF, -1, kChNew}, "hard link needs a source file with a link leader");
  ExpectRejected({ActionKind::HardLink, kD, -1, kChNew}, "hard link needs a source file with a link leader");
  ExpectRejected({ActionKind::HardLink, kS, -1, kChNew}, "hard link leader is not a regular file");
}

TEST(PlanCheckTest, RejectsHardLinkWhoseLeaderIsOutOfRange) {
  Trees t;
  t.src[kH].link_leader = static_cast<int64_t>(t.src.size());
  Plan plan;
  plan.actions = {{ActionKind::HardLink, kH, -1, kChNew}};
  EXPECT_THROW(CheckReceivedPlan(plan, t.src, t.dst), Error);
}

TEST(PlanCheckTest, RejectsDirMetaOnANonDirectory) {
  ExpectRejected({ActionKind::DirMeta, kF, kF, kChMtime}, "directory metadata needs a source directory");
  ExpectRejected({ActionKind::DirMeta, kW, kDstW, kChMtime}, "directory metadata needs a source directory");
  ExpectRejected({ActionKind::DirMeta, -1, kD, kChMtime}, "directory metadata needs a source directory");
}

TEST(PlanCheckTest, RejectsDirMetaOverANonDirectory) {
  Trees t;
  t.src.push_back(Make("y", EntryType::Dir));  // path "y": dst 8 is a symlink there
  Plan plan;
  plan.actions = {{ActionKind::DirMeta, static_cast<int64_t>(t.src.size() - 1), kDstY, kChMtime}};
  try {
    CheckReceivedPlan(plan, t.src, t.dst);
    ADD_FAILURE() << "DirMeta over a symlink was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("directory metadata needs a source directory"), std::string::npos)
        << e.what();
  }
}

TEST(PlanCheckTest, RejectsSourceAndDestinationWithDifferentPaths) {
  ExpectRejected({ActionKind::SendFile, kF, kDstE, kChSize}, "different paths");
  ExpectRejected({ActionKind::MetaOnly, kD, kRoot, kChMtime}, "different paths");
  ExpectRejected({ActionKind::DirMeta, kRoot, kD, kChMtime}, "different paths");
  ExpectRejected({ActionKind::Symlink, kL, kP, kChNew}, "different paths");
}

TEST(PlanCheckTest, NamesTheFirstBadActionByPosition) {
  Trees t;
  Plan plan;
  plan.actions = {{ActionKind::SendFile, kF, -1, kChNew}, {ActionKind::SendFile, kF, -1, kChNew},
                  {ActionKind::Delete, -1, kRoot, 0}, {ActionKind::MkDir, kF, -1, kChNew}};
  try {
    CheckReceivedPlan(plan, t.src, t.dst);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plan action #2: the root cannot be deleted"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ktsync
