// links: ktsync_apply
#include "apply/apply_plan.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "apply/local_copy.h"
#include "apply/temp_name.h"
#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDirMtime = 1'500'000'000'987'654'321;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

struct stat Lstat(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

// What the scanner would record for `rel` beneath `root`.
Entry ScanEntry(const fs::path& root, const std::string& rel) {
  fs::path p = rel.empty() ? root : root / rel;
  struct stat st = Lstat(p);
  Entry e;
  e.path = rel;
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_ns = Ns(st.st_mtim);
  e.ctime_ns = Ns(st.st_ctim);
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  e.nlink = static_cast<uint32_t>(st.st_nlink);
  if (S_ISREG(st.st_mode)) {
    e.type = EntryType::File;
    e.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    e.type = EntryType::Dir;
  } else if (S_ISLNK(st.st_mode)) {
    e.type = EntryType::Symlink;
    e.set_link_target(fs::read_symlink(p).string());
  } else if (S_ISFIFO(st.st_mode)) {
    e.type = EntryType::Fifo;
  }
  return e;
}

Manifest ScanAll(const fs::path& root, const std::vector<std::string>& rels) {
  Manifest m;
  for (const auto& r : rels) m.push_back(ScanEntry(root, r));
  return m;
}

Action A(ActionKind kind, int64_t src, int64_t dst = -1) { return Action{kind, src, dst, 0}; }

class ApplyPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = base_ / "src";
    dst_ = base_ / "dst";
    fs::create_directories(src_);
    fs::create_directories(dst_);
    src_fd_ = UniqueFd(open(src_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    tree_ = std::make_unique<DestTree>(DestTree::Open(dst_.string()));
  }

  ApplyResult Run(const Plan& plan, const Manifest& src, const Manifest& dst,
                  const ApplyOptions& opts = {}) {
    LocalCopySupplier supplier(src_fd_.get(), *tree_, opts, problems_, counters_);
    return ApplyPlan(plan, src, dst, *tree_, supplier, opts, problems_, counters_);
  }

  std::string FirstProblem() const {
    auto snap = problems_.Snapshot();
    return snap.empty() ? "" : snap[0].path + ": " + snap[0].message;
  }

  TempDir base_{"ktsync-apply-plan"};
  fs::path src_, dst_;
  UniqueFd src_fd_;
  std::unique_ptr<DestTree> tree_;
  Problems problems_;
  ApplyCounters counters_;
};

void SetMtime(const fs::path& p, int64_t ns) {
  timespec ts[2] = {{0, UTIME_OMIT}, {ns / 1'000'000'000, ns % 1'000'000'000}};
  ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
}

TEST_F(ApplyPlanTest, RunsEveryPhaseAndLeavesDestinationIdentical) {
  fs::create_directory(src_ / "d");
  WriteAll(src_ / "d/f", "data-f");
  WriteAll(src_ / "g", "data-g");
  fs::create_hard_link(src_ / "d/f", src_ / "h");
  fs::create_symlink("d/f", src_ / "l");
  WriteAll(src_ / "m", "same");
  chmod((src_ / "m").c_str(), 0600);
  ASSERT_EQ(mkfifo((src_ / "p").c_str(), 0640), 0);
  chmod((src_ / "p").c_str(), 0640);
  chmod((src_ / "d").c_str(), 0555);
  SetMtime(src_ / "d", kDirMtime);
  chmod(src_.c_str(), 0750);
  SetMtime(src_, kDirMtime + 1);
  Manifest src = ScanAll(src_, {"", "d", "d/f", "g", "h", "l", "m", "p"});
  src[4].link_leader = 2;

  fs::create_directory(dst_ / "l");
  WriteAll(dst_ / "m", "same");
  chmod((dst_ / "m").c_str(), 0644);
  fs::create_directory(dst_ / "x");
  WriteAll(dst_ / "x/y", "extraneous");
  Manifest dst = ScanAll(dst_, {"", "l", "m", "x", "x/y"});

  Plan plan;
  plan.actions = {A(ActionKind::RemoveForType, -1, 1), A(ActionKind::MkDir, 1),
                  A(ActionKind::SendFile, 2),          A(ActionKind::SendFile, 3),
                  A(ActionKind::Symlink, 5),           A(ActionKind::MetaOnly, 6, 2),
                  A(ActionKind::Special, 7),           A(ActionKind::HardLink, 4),
                  A(ActionKind::Delete, -1, 4),        A(ActionKind::Delete, -1, 3),
                  A(ActionKind::DirMeta, 1),           A(ActionKind::DirMeta, 0, 0)};
  ApplyResult r = Run(plan, src, dst);

  EXPECT_FALSE(problems_.HasErrors()) << FirstProblem();
  EXPECT_FALSE(r.deletes_skipped);
  EXPECT_EQ(ReadAll(dst_ / "d/f"), "data-f");
  EXPECT_EQ(ReadAll(dst_ / "g"), "data-g");
  EXPECT_EQ(Lstat(dst_ / "h").st_ino, Lstat(dst_ / "d/f").st_ino);
  EXPECT_EQ(fs::read_symlink(dst_ / "l"), "d/f");
  EXPECT_EQ(Lstat(dst_ / "m").st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISFIFO(Lstat(dst_ / "p").st_mode));
  EXPECT_FALSE(fs::exists(dst_ / "x"));
  // Directory metadata comes last, so later writes inside did not disturb it.
  EXPECT_EQ(Lstat(dst_ / "d").st_mode & 07777, 0555u);
  EXPECT_EQ(Ns(Lstat(dst_ / "d").st_mtim), kDirMtime);
  EXPECT_EQ(Lstat(dst_).st_mode & 07777, 0750u);
  EXPECT_EQ(Ns(Lstat(dst_).st_mtim), kDirMtime + 1);
  std::set<std::string> names;
  for (const auto& de : fs::directory_iterator(dst_)) names.insert(de.path().filename());
  EXPECT_EQ(names, (std::set<std::string>{"d", "g", "h", "l", "m", "p"}));

  EXPECT_EQ(counters_.files_written.load(), 2u);
  EXPECT_EQ(counters_.bytes_written.load(), 12u);
  EXPECT_EQ(counters_.deleted.load(), 3u);
  EXPECT_EQ(counters_.meta_fixed.load(), 3u);
  EXPECT_EQ(counters_.created_other.load(), 4u);
}

class ExtraneousAfterFailure : public ApplyPlanTest {
 protected:
  // "a" is in the source manifest but gone from disk: its SendFile records a problem.
  void Build() {
    src_m_ = ScanAll(src_, {""});
    Entry a;
    a.path = "a";
    a.size = 3;
    src_m_.push_back(a);
    WriteAll(dst_ / "z", "old");
    dst_m_ = ScanAll(dst_, {"", "z"});
    plan_.actions = {A(ActionKind::SendFile, 1), A(ActionKind::Delete, -1, 1)};
  }
  Manifest src_m_, dst_m_;
  Plan plan_;
};

TEST_F(ExtraneousAfterFailure, DeletesAreSkippedAfterAnyProblem) {
  Build();
  ApplyResult r = Run(plan_, src_m_, dst_m_);
  EXPECT_TRUE(problems_.HasErrors());
  EXPECT_TRUE(r.deletes_skipped);
  EXPECT_TRUE(fs::exists(dst_ / "z"));
  EXPECT_EQ(counters_.deleted.load(), 0u);
}

TEST_F(ExtraneousAfterFailure, DeleteOnErrorDeletesAnyway) {
  Build();
  ApplyOptions opts;
  opts.delete_on_error = true;
  ApplyResult r = Run(plan_, src_m_, dst_m_, opts);
  EXPECT_TRUE(problems_.HasErrors());
  EXPECT_FALSE(r.deletes_skipped);
  EXPECT_FALSE(fs::exists(dst_ / "z"));
}

TEST_F(ApplyPlanTest, FailingActionIsRecordedAndTheRestStillRuns) {
  WriteAll(dst_ / "f", "file, not a dir");
  Manifest src(3);
  src[0].path = "";
  src[0].type = EntryType::Dir;
  src[1].path = "f/sub";
  src[1].type = EntryType::Dir;
  src[2].path = "ok";
  src[2].type = EntryType::Dir;
  Plan plan;
  plan.actions = {A(ActionKind::MkDir, 1), A(ActionKind::MkDir, 2)};
  Run(plan, src, {});
  auto snap = problems_.Snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].kind, ProblemKind::Failed);
  EXPECT_EQ(snap[0].path, "f/sub");
  EXPECT_NE(snap[0].message.find("f/sub"), std::string::npos) << snap[0].message;
  EXPECT_TRUE(fs::is_directory(dst_ / "ok"));
}

TEST_F(ApplyPlanTest, HostilePathsFailPerEntryAndNothingLandsOutside) {
  Manifest src(4);
  src[0].type = EntryType::Dir;
  src[1].path = "../evil";
  src[1].type = EntryType::Dir;
  src[2].path = "/tmp/ktsync-abs-evil";
  src[2].type = EntryType::Symlink;
  src[2].set_link_target("x");
  src[3].path = "fine";
  src[3].type = EntryType::Dir;
  Plan plan;
  plan.actions = {A(ActionKind::MkDir, 1), A(ActionKind::Symlink, 2), A(ActionKind::MkDir, 3),
                  A(ActionKind::DirMeta, 1)};
  Run(plan, src, {});
  EXPECT_EQ(problems_.Snapshot().size(), 3u);
  EXPECT_FALSE(fs::exists(base_ / "evil"));
  EXPECT_FALSE(fs::exists("/tmp/ktsync-abs-evil"));
  EXPECT_TRUE(fs::is_directory(dst_ / "fine"));
}

TEST_F(ApplyPlanTest, OutOfRangeIndicesFailTheActionInsteadOfCrashing) {
  Manifest src(1);
  src[0].type = EntryType::Dir;
  Plan plan;
  plan.actions = {A(ActionKind::MkDir, 7), A(ActionKind::Delete, -1, 3),
                  A(ActionKind::HardLink, 0)};
  ApplyOptions opts;
  opts.delete_on_error = true;  // reach the Delete despite the MkDir failure
  Run(plan, src, {}, opts);
  EXPECT_EQ(problems_.Snapshot().size(), 3u);
}

class RecordingSupplier : public FileSupplier {
 public:
  void Supply(const Action&, const Entry& e) override {
    seen.push_back(e.path);
    if (e.path == "boom") throw Error(ExitCode::FileIo, "boom: supplier failed");
  }
  std::vector<std::string> seen;
};

TEST_F(ApplyPlanTest, SupplierGetsSendFilesInPlanOrderAndItsErrorsAreRecorded) {
  Manifest src(4);
  src[0].type = EntryType::Dir;
  src[1].path = "a";
  src[2].path = "boom";
  src[3].path = "c";
  src[3].type = EntryType::Symlink;
  src[3].set_link_target("a");
  Plan plan;
  plan.actions = {A(ActionKind::SendFile, 1), A(ActionKind::SendFile, 2),
                  A(ActionKind::Symlink, 3)};
  RecordingSupplier supplier;
  ApplyPlan(plan, src, {}, *tree_, supplier, {}, problems_, counters_);
  EXPECT_EQ(supplier.seen, (std::vector<std::string>{"a", "boom"}));
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].path, "boom");
  EXPECT_TRUE(fs::is_symlink(dst_ / "c"));
}

// The network receiver's shape: phases around file data it writes itself.
TEST_F(ApplyPlanTest, PhaseFunctionsLeaveFileDataToTheCaller) {
  Manifest src(3);
  src[0].type = EntryType::Dir;
  src[0].mode = 0755;
  src[1].path = "d";
  src[1].type = EntryType::Dir;
  src[1].mode = 0500;
  src[1].mtime_ns = kDirMtime;
  src[2].path = "d/f";
  src[2].mode = 0444;
  Plan plan;
  plan.actions = {A(ActionKind::MkDir, 1), A(ActionKind::SendFile, 2), A(ActionKind::DirMeta, 1)};
  ApplyOptions opts;
  ApplyBeforeData(plan, src, {}, *tree_, opts, problems_, counters_);
  ASSERT_TRUE(fs::is_directory(dst_ / "d"));
  EXPECT_FALSE(fs::exists(dst_ / "d/f"));
  {
    PendingFile f = tree_->CreateFile(src[2]);
    f.Write("net", 3);
    Hash128 h = HashBytes("net", 3);
    f.Commit(h, h, src[2], opts.meta, false);
  }
  ApplyNonData(plan, src, {}, *tree_, opts, problems_, counters_);
  ApplyResult r = ApplyAfterData(plan, src, {}, *tree_, opts, problems_, counters_);
  EXPECT_FALSE(r.deletes_skipped);
  EXPECT_FALSE(problems_.HasErrors()) << FirstProblem();
  EXPECT_EQ(ReadAll(dst_ / "d/f"), "net");
  EXPECT_EQ(Lstat(dst_ / "d").st_mode & 07777, 0500u);
  EXPECT_EQ(Ns(Lstat(dst_ / "d").st_mtim), kDirMtime);
}

TEST_F(ApplyPlanTest, RemoveStaleTempsRemovesOnlyTempNames) {
  fs::create_directory(dst_ / "d");
  std::string t1 = std::string(kTempPrefix) + "0123456789abcdef";
  WriteAll(dst_ / t1, "");
  WriteAll(dst_ / "d" / t1, "");
  WriteAll(dst_ / "keep", "");
  fs::create_directory(base_ / "outside");
  WriteAll(base_ / "outside" / t1, "");
  size_t n = RemoveStaleTemps(*tree_, {t1, "d/" + t1, "keep", "../outside/" + t1, ""});
  EXPECT_EQ(n, 2u);
  EXPECT_FALSE(fs::exists(dst_ / t1));
  EXPECT_FALSE(fs::exists(dst_ / "d" / t1));
  EXPECT_TRUE(fs::exists(dst_ / "keep"));
  EXPECT_TRUE(fs::exists(base_ / "outside" / t1));
}

}  // namespace
}  // namespace ktsync
