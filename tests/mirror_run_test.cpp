// links: ktsync_mirror
// The whole pipeline of a local run (mirror/run.h) on real trees: what it leaves in DST,
// what it reports, and the guards that refuse before anything changes.
#include "mirror/run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;
using ::testing::IsEmpty;

constexpr int64_t kDirMtime = 1'500'000'000'987'654'321;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

struct stat Lstat(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

void SetMtime(const fs::path& p, int64_t ns) {
  timespec ts[2] = {{0, UTIME_OMIT}, {ns / 1'000'000'000, ns % 1'000'000'000}};
  ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
}

// Keeps "code-ish kind path" of every reported change, in any order.
class Items : public RunObserver {
 public:
  void Warn(const std::string&) override {}
  bool WantsItems() const override { return true; }
  void Item(const ItemView& v) override {
    std::lock_guard lock(mu_);
    seen_.insert(std::to_string(static_cast<int>(v.kind)) + " " + std::to_string(v.changes) + " " + v.path);
  }
  std::multiset<std::string> seen() const { return seen_; }

 private:
  mutable std::mutex mu_;
  std::multiset<std::string> seen_;
};

class MirrorRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    fs::create_directories(dst_);
  }
  RunResult Mirror(bool dry_run = false, Items* items = nullptr) {
    RunSpec r;
    r.spec.plan.hard_links = true;
    r.spec.dry_run = dry_run;
    r.spec.deletes = limits_;
    r.state_dir = (base_.path() / "state").string();
    r.src = src_.string();
    r.dst = dst_.string();
    Items none;
    return RunMirror(r, problems_, items ? *items : none, nullptr);
  }
  std::set<std::string> DstNames() const {
    std::set<std::string> names;
    for (const auto& de : fs::recursive_directory_iterator(dst_)) names.insert(de.path().lexically_relative(dst_));
    return names;
  }

  TempDir base_{"ktsync-mirror-run"};
  fs::path src_ = base_.path() / "src", dst_ = base_.path() / "dst";
  DeleteLimits limits_;
  Problems problems_;
};

TEST_F(MirrorRunTest, MakesEveryKindOfChangeAndLeavesDestinationIdentical) {
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
  fs::create_directories(dst_ / "l" / "sub");  // a directory where SRC has a symlink
  WriteAll(dst_ / "l" / "sub" / "x", "in the way");
  WriteAll(dst_ / "m", "same");
  chmod((dst_ / "m").c_str(), 0644);
  SetMtime(dst_ / "m", Ns(Lstat(src_ / "m").st_mtim));
  fs::create_directory(dst_ / "x");
  WriteAll(dst_ / "x/y", "extraneous");

  RunResult r = Mirror();

  EXPECT_FALSE(problems_.HasErrors()) << problems_.Snapshot()[0].message;
  EXPECT_EQ(ReadAll(dst_ / "d/f"), "data-f");
  EXPECT_EQ(ReadAll(dst_ / "g"), "data-g");
  EXPECT_EQ(Lstat(dst_ / "h").st_ino, Lstat(dst_ / "d/f").st_ino);
  EXPECT_EQ(fs::read_symlink(dst_ / "l"), "d/f");
  EXPECT_EQ(Lstat(dst_ / "m").st_mode & 07777, 0600u);
  EXPECT_TRUE(S_ISFIFO(Lstat(dst_ / "p").st_mode));
  EXPECT_FALSE(fs::exists(dst_ / "x"));
  // Directory times are set after their last change, deletions included.
  EXPECT_EQ(Lstat(dst_ / "d").st_mode & 07777, 0555u);
  EXPECT_EQ(Ns(Lstat(dst_ / "d").st_mtim), kDirMtime);
  EXPECT_EQ(Lstat(dst_).st_mode & 07777, 0750u);
  EXPECT_EQ(Ns(Lstat(dst_).st_mtim), kDirMtime + 1);
  EXPECT_EQ(DstNames(), (std::set<std::string>{"d", "d/f", "g", "h", "l", "m", "p"}));
  EXPECT_EQ(r.stats.files_sent, 2u);
  EXPECT_EQ(r.stats.bytes_sent, 12u);
  EXPECT_EQ(r.stats.deleted, 5u);        // l, l/sub, l/sub/x (retype), x, x/y
  EXPECT_EQ(r.stats.meta_fixed, 3u);     // m, d's and the root's DirMeta
  EXPECT_EQ(r.stats.created_other, 4u);  // mkdir d, symlink l, fifo p, hard link h
  EXPECT_EQ(r.totals.files_to_send, 2u);
  EXPECT_EQ(r.totals.to_delete, 5u);
}

// The dry run is the real run's plan given to a mover that does nothing.
TEST_F(MirrorRunTest, DryRunReportsExactlyTheChangesTheRealRunMakes) {
  for (int i = 0; i < 50; ++i) {
    fs::create_directories(src_ / ("d" + std::to_string(i % 7)));
    WriteAll(src_ / ("d" + std::to_string(i % 7)) / ("f" + std::to_string(i)), std::string(static_cast<size_t>(i), 'x'));
  }
  WriteAll(dst_ / "old", "gone soon");
  fs::create_directory(dst_ / "d3");
  WriteAll(dst_ / "d3" / "f3", "xxx");  // same content, other mtime: metadata only
  Items dry, real;
  Mirror(/*dry_run=*/true, &dry);
  EXPECT_EQ(DstNames(), (std::set<std::string>{"d3", "d3/f3", "old"})) << "the dry run changed DST";
  Mirror(/*dry_run=*/false, &real);
  EXPECT_EQ(dry.seen(), real.seen());
  Items again;
  Mirror(/*dry_run=*/false, &again);
  EXPECT_THAT(again.seen(), IsEmpty()) << "a second run has nothing to do";
}

TEST_F(MirrorRunTest, AnEmptySourceIsRefusedBeforeAnythingChanges) {
  WriteAll(dst_ / "precious", "keep me");
  SetMtime(dst_, kDirMtime);
  try {
    Mirror();
    FAIL() << "an empty SRC was mirrored";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::UnsafeSource);
  }
  EXPECT_EQ(ReadAll(dst_ / "precious"), "keep me");
  EXPECT_EQ(Ns(Lstat(dst_).st_mtim), kDirMtime);
}

// Data moves while the trees are compared, so the limit is checked by a first pass that
// changes nothing.
TEST_F(MirrorRunTest, MaxDeleteRefusesTheWholeRunBeforeAnythingChanges) {
  WriteAll(src_ / "new", "n");
  for (int i = 0; i < 5; ++i) WriteAll(dst_ / ("old" + std::to_string(i)), "o");
  limits_.max_delete = 4;
  try {
    Mirror();
    FAIL() << "the limit was not enforced";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::MaxDelete);
    EXPECT_NE(std::string(e.what()).find("nothing was changed"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dst_ / "new"));
  EXPECT_EQ(DstNames().size(), 5u);
  limits_.max_delete = 5;
  RunResult r = Mirror();
  EXPECT_EQ(r.stats.deleted, 5u);
  EXPECT_TRUE(fs::exists(dst_ / "new"));
}

}  // namespace
}  // namespace ktsync
