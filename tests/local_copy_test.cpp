// links: ktsync_apply
#include "apply/local_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "apply/temp_name.h"
#include "util/hash.h"
#include "util/problems.h"

#include "appender.h"
#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

int64_t Ns(const timespec& ts) { return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec; }

// What a scan would record for `rel` beneath `root`.
Entry Scan(const fs::path& root, const std::string& rel) {
  struct stat st{};
  EXPECT_EQ(lstat((root / rel).c_str(), &st), 0);
  Entry e;
  e.path = rel;
  e.type = EntryType::File;
  e.mode = st.st_mode & 07777;
  e.size = static_cast<uint64_t>(st.st_size);
  e.mtime = Timestamp::Of(st.st_mtim);
  e.ctime_ns = Ns(st.st_ctim);
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  return e;
}

bool NoTemps(const fs::path& dir) {
  for (const auto& de : fs::recursive_directory_iterator(dir))
    if (IsTempName(de.path().filename().string())) return false;
  return true;
}

class LocalCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dst_ = base_ / "dst";
    src_ = base_ / "src";
    fs::create_directories(dst_);
    fs::create_directories(src_);
    src_fd_ = UniqueFd(open(src_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    tree_ = std::make_unique<DestTree>(DestTree::Open(dst_.string()));
  }

  CopyResult Copy(const Entry& e, bool skip_changing = false) {
    return CopyLocalFile(src_fd_.get(), e, *tree_, CopyOptions{{}, skip_changing}, problems_);
  }

  TempDir base_{"ktsync-local-copy"};
  fs::path src_, dst_;
  UniqueFd src_fd_;
  std::unique_ptr<DestTree> tree_;
  Problems problems_;
};

TEST_F(LocalCopyTest, CopiesAndHashesExactlyTheBytesAcrossChunks) {
  std::string data = RandomBytes((3 << 20) + 123);
  fs::create_directory(src_ / "d");
  fs::create_directory(dst_ / "d");
  WriteAll(src_ / "d/f", data);
  chmod((src_ / "d/f").c_str(), 0604);
  Entry e = Scan(src_, "d/f");
  CopyResult r = Copy(e);
  ASSERT_TRUE(r.ok) << (problems_.Snapshot().empty() ? "" : problems_.Snapshot()[0].message);
  EXPECT_EQ(r.hash, HashBytes(data.data(), data.size()));
  EXPECT_EQ(ReadAll(dst_ / "d/f"), data);
  struct stat st{};
  ASSERT_EQ(stat((dst_ / "d/f").c_str(), &st), 0);
  EXPECT_EQ(Timestamp::Of(st.st_mtim), e.mtime);
  EXPECT_EQ(st.st_mode & 07777, 0604u);
  EXPECT_EQ(r.info.ino, st.st_ino);
  EXPECT_EQ(r.info.size, data.size());
  EXPECT_EQ(r.info.ctime_ns, Ns(st.st_ctim));
  EXPECT_FALSE(problems_.HasErrors());
  EXPECT_TRUE(NoTemps(dst_));
}

// 64 MiB with two 4 KiB data regions, one in the middle and one at the end: DST gets the
// same bytes and stays a few blocks, holes and a trailing hole included.
TEST_F(LocalCopyTest, SparseFileStaysSparse) {
  for (bool trailing_hole : {false, true}) {
    std::string name = trailing_hole ? "sparse-tail" : "sparse";
    const off_t size = 64 << 20;
    std::string a(4096, 'a'), z(4096, 'z');
    {
      UniqueFd fd(open((src_ / name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      ASSERT_TRUE(fd);
      ASSERT_EQ(pwrite(fd.get(), a.data(), a.size(), 8 << 20), 4096);
      off_t last = trailing_hole ? (32 << 20) : size - 4096;
      ASSERT_EQ(pwrite(fd.get(), z.data(), z.size(), last), 4096);
      ASSERT_EQ(ftruncate(fd.get(), size), 0);
    }
    std::string data = ReadAll(src_ / name);
    CopyResult r = Copy(Scan(src_, name));
    ASSERT_TRUE(r.ok) << (problems_.Snapshot().empty() ? "" : problems_.Snapshot()[0].message);
    EXPECT_EQ(r.hash, HashBytes(data.data(), data.size()));
    EXPECT_EQ(ReadAll(dst_ / name), data);
    struct stat st{};
    ASSERT_EQ(stat((dst_ / name).c_str(), &st), 0);
    EXPECT_EQ(st.st_size, size);
    EXPECT_LE(st.st_blocks * 512, 1 << 20) << name << ": holes were filled";
  }
}

TEST_F(LocalCopyTest, CopiesAnEmptyFile) {
  WriteAll(src_ / "empty", "");
  CopyResult r = Copy(Scan(src_, "empty"));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.hash, HashBytes("", 0));
  EXPECT_EQ(fs::file_size(dst_ / "empty"), 0u);
}

TEST_F(LocalCopyTest, MatchingCachedHashCommitsAndWrongOneKeepsNothing) {
  WriteAll(src_ / "f", "content");
  Entry e = Scan(src_, "f");
  e.hash = HashBytes("content", 7);
  EXPECT_TRUE(Copy(e).ok);

  WriteAll(dst_ / "g", "old");
  WriteAll(src_ / "g", "content");
  Entry g = Scan(src_, "g");
  g.hash = HashBytes("stale cache", 11);
  EXPECT_FALSE(Copy(g).ok);
  EXPECT_EQ(ReadAll(dst_ / "g"), "old");
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].kind, ProblemKind::Failed);
  EXPECT_EQ(problems_.Snapshot()[0].path, "g");
  EXPECT_TRUE(NoTemps(dst_));
}

TEST_F(LocalCopyTest, SourceChangedSinceScanIsCopiedAsItIsNow) {
  WriteAll(src_ / "f", "content");
  Entry e = Scan(src_, "f");
  e.hash = HashBytes("content", 7);
  WriteAll(src_ / "f", "content, longer now");
  timespec ts[2] = {{0, UTIME_OMIT}, {1'000'000, 5}};
  ASSERT_EQ(utimensat(AT_FDCWD, (src_ / "f").c_str(), ts, 0), 0);
  CopyResult r = Copy(e);
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(problems_.Snapshot().empty());
  EXPECT_EQ(ReadAll(dst_ / "f"), "content, longer now");
  struct stat st;
  ASSERT_EQ(stat((dst_ / "f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1'000'000);  // the mtime it was read at, not the listed one
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
  ASSERT_TRUE(r.source);
  EXPECT_EQ(r.source->size, 19u);  // the source cache learns the file as read
}

TEST_F(LocalCopyTest, SourceChangedSinceScanIsNotCopiedWhenSkippingChangingFiles) {
  WriteAll(src_ / "f", "content");
  Entry e = Scan(src_, "f");
  timespec ts[2] = {{0, UTIME_OMIT}, {1'000'000, 5}};
  ASSERT_EQ(utimensat(AT_FDCWD, (src_ / "f").c_str(), ts, 0), 0);
  EXPECT_FALSE(Copy(e, /*skip_changing=*/true).ok);
  EXPECT_FALSE(fs::exists(dst_ / "f"));
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].kind, ProblemKind::Vanished);
  EXPECT_NE(problems_.Snapshot()[0].message.find("changed since scan"), std::string::npos);
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
  EXPECT_TRUE(NoTemps(dst_));
}

// Appends never stop, so every read sees the size move: after the last attempt the read is
// kept (a prefix of what the file holds by then) and reported.
TEST_F(LocalCopyTest, FileAppendedWhileCopiedIsKeptAsReadAndReported) {
  std::string start = RandomBytes(32 << 20);
  WriteAll(src_ / "log", start);
  Entry e = Scan(src_, "log");
  e.hash = HashBytes(start.data(), start.size());  // cached: of the listed content only
  CopyResult r;
  {
    Appender appending(src_ / "log");
    r = Copy(e);
  }
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.source);  // not a consistent read: the cache learns nothing
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].kind, ProblemKind::Vanished);
  EXPECT_NE(problems_.Snapshot()[0].message.find("kept the last full read"), std::string::npos);
  std::string copied = ReadAll(dst_ / "log");
  EXPECT_GE(copied.size(), 32u << 20);
  EXPECT_EQ(ReadAll(src_ / "log").substr(0, copied.size()), copied);
  EXPECT_TRUE(NoTemps(dst_));
}

TEST_F(LocalCopyTest, FileAppendedWhileCopiedIsDroppedWhenSkippingChangingFiles) {
  WriteAll(src_ / "log", RandomBytes(32 << 20));
  Entry e = Scan(src_, "log");
  CopyResult r;
  {
    Appender appending(src_ / "log");
    r = Copy(e, /*skip_changing=*/true);
  }
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(fs::exists(dst_ / "log"));
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
}

TEST_F(LocalCopyTest, SourceReplacedByAnotherInodeIsVanished) {
  WriteAll(src_ / "f", "content");
  Entry e = Scan(src_, "f");
  WriteAll(src_ / "f2", "content");
  fs::rename(src_ / "f2", src_ / "f");
  e.mtime = Scan(src_, "f").mtime;  // same size and mtime, different inode
  EXPECT_FALSE(Copy(e).ok);
  EXPECT_EQ(problems_.Snapshot().at(0).kind, ProblemKind::Vanished);
}

TEST_F(LocalCopyTest, VanishedSourceIsReportedAsVanished) {
  WriteAll(src_ / "f", "content");
  Entry e = Scan(src_, "f");
  fs::remove(src_ / "f");
  EXPECT_FALSE(Copy(e).ok);
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].kind, ProblemKind::Vanished);
  EXPECT_NE(problems_.Snapshot()[0].message.find("vanished"), std::string::npos);
}

TEST_F(LocalCopyTest, SymlinkInTheSourcePathIsNeverFollowed) {
  fs::create_directory(src_ / "real");
  WriteAll(src_ / "real/f", "secret");
  Entry e = Scan(src_, "real/f");
  e.path = "link/f";
  fs::create_symlink("real", src_ / "link");
  EXPECT_FALSE(Copy(e).ok);
  fs::create_symlink("real/f", src_ / "lf");
  e.path = "lf";
  EXPECT_FALSE(Copy(e).ok);
  EXPECT_TRUE(fs::is_empty(dst_));
  EXPECT_EQ(problems_.Snapshot().size(), 2u);
}

TEST_F(LocalCopyTest, UnsafeSourcePathIsAFailure) {
  Entry e;
  e.path = "../etc/passwd";
  EXPECT_FALSE(Copy(e).ok);
  EXPECT_EQ(problems_.Snapshot().at(0).kind, ProblemKind::Failed);
}

// tmpfs -> ext4 refuses copy_file_range on current kernels (EXDEV), so this runs the
// read/hash/write path; on a kernel that allows it, it simply runs the other path again.
TEST(LocalCopyCrossFs, FallsBackToReadWriteBetweenFilesystems) {
  if (!fs::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  TempDir src{"ktsync-local-copy", "/dev/shm"};
  TempDir dst{"ktsync-local-copy"};
  std::string data = RandomBytes((2 << 20) + 7);
  WriteAll(src / "f", data);
  {
    UniqueFd src_fd(open(src.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DestTree tree = DestTree::Open(dst.str());
    Problems problems;
    CopyResult r = CopyLocalFile(src_fd.get(), Scan(src.path(), "f"), tree, CopyOptions{{{}, /*fsync=*/true}}, problems);
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.hash, HashBytes(data.data(), data.size()));
    EXPECT_EQ(ReadAll(dst / "f"), data);
  }
}

}  // namespace
}  // namespace ktsync
