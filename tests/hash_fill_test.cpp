// links: ktsync_store
#include "store/hash_fill.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/open_beneath.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

class TreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(root_ + "/d");
    root_fd_.reset(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_);
  }

  void Write(const std::string& rel, const std::string& content) {
    std::ofstream(root_ + "/" + rel, std::ios::binary | std::ios::trunc) << content;
  }

  // What a scanner would record for `rel` right now.
  Entry Scan(const std::string& rel) {
    struct stat st{};
    EXPECT_EQ(::lstat((root_ + "/" + rel).c_str(), &st), 0) << rel;
    Entry e;
    e.path = rel;
    e.type = S_ISREG(st.st_mode) ? EntryType::File : EntryType::Dir;
    e.size = static_cast<uint64_t>(st.st_size);
    e.mtime = Timestamp::Of(st.st_mtim);
    e.ctime_ns = Timestamp::Of(st.st_ctim).KeyNs();
    e.dev = st.st_dev;
    e.ino = st.st_ino;
    return e;
  }

  HashStore OpenStore() { return HashStore::Open(root_, tmp_ + "/state", nullptr); }

  // EnsureHashes over the entries of `m` at `indices`.
  void Ensure(Manifest& m, const std::vector<size_t>& indices, HashStore& store, TransferMeter* meter = nullptr) {
    std::vector<Entry*> entries;
    for (size_t i : indices) entries.push_back(&m[i]);
    EnsureHashes(root_fd_.get(), entries, store, problems_, meter);
  }

  TempDir scratch_{"ktsync-fill"};
  std::string tmp_ = scratch_.str(), root_ = tmp_ + "/root";
  UniqueFd root_fd_;
  Problems problems_;
};

std::string BigContent() {
  std::string s(2 * 1024 * 1024 + 12345, '\0');  // spans several 1 MiB reads
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

TEST_F(TreeTest, HashesOnceThenHitsTheCache) {
  const std::string big = BigContent();
  Write("a", "hello");
  Write("d/big", big);
  Write("empty", "");
  {
    Manifest m = {Scan(""), Scan("a"), Scan("d"), Scan("d/big"), Scan("empty")};
    HashStore store = OpenStore();
    Ensure(m, {1, 3, 4}, store);
    EXPECT_EQ(m[1].hash, HashBytes("hello", 5));
    EXPECT_EQ(m[3].hash, HashBytes(big.data(), big.size()));
    EXPECT_EQ(m[4].hash, HashBytes("", 0));
    EXPECT_EQ(store.stats().hashed, 3u);
    EXPECT_EQ(store.stats().misses, 3u);
    EXPECT_EQ(store.stats().hits, 0u);
    store.Commit();  // as a run does at its end
  }
  Manifest m = {Scan(""), Scan("a"), Scan("d"), Scan("d/big"), Scan("empty")};
  HashStore store = OpenStore();  // a later run: the hashes were committed
  Ensure(m, {1, 3, 4}, store);
  EXPECT_EQ(store.stats().hits, 3u);
  EXPECT_EQ(store.stats().hashed, 0u);
  EXPECT_EQ(m[3].hash, HashBytes(big.data(), big.size()));
  EXPECT_FALSE(problems_.HasErrors());
}

TEST_F(TreeTest, RehashesContentRewrittenWithItsMtimeRestored) {
  Write("a", "one");
  HashStore store = OpenStore();
  Manifest m = {Scan("a")};
  Ensure(m, {0}, store);
  struct timespec times[2] = {{0, UTIME_OMIT}, {0, 0}};
  times[1] = m[0].mtime.ToTimespec();
  ::usleep(20000);  // let the clock move so the new ctime differs
  Write("a", "two");
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ + "/a").c_str(), times, 0), 0);
  Manifest again = {Scan("a")};
  ASSERT_EQ(again[0].mtime, m[0].mtime);
  Ensure(again, {0}, store);
  EXPECT_EQ(again[0].hash, HashBytes("two", 3));
  EXPECT_EQ(store.stats().hashed, 2u);
}

TEST_F(TreeTest, FileChangedSinceScanIsVanishedAndLeftUnhashed) {
  Write("a", "hello");
  Manifest m = {Scan("a")};
  m[0].mtime = Timestamp::FromNs(m[0].mtime.KeyNs() - 1000);  // the scan saw an older version
  HashStore store = OpenStore();
  Ensure(m, {0}, store);
  EXPECT_FALSE(m[0].hash);
  EXPECT_EQ(store.stats().hashed, 0u);
  std::vector<Problem> p = problems_.Snapshot();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].kind, ProblemKind::Vanished);
  EXPECT_EQ(p[0].path, "a");
  EXPECT_NE(p[0].message.find("changed during scan"), std::string::npos) << p[0].message;
  // Nothing was cached for the stale entry.
  EXPECT_FALSE(store.Lookup(m[0]));
}

// The progress display's hashing phase: bytes to read, then read; cache hits count for
// neither, and a file that could not be read still closes the gap.
TEST_F(TreeTest, CountsBytesToHashAndHashedIntoTheMeter) {
  const std::string big = BigContent();
  Write("d/big", big);
  Write("gone", "12345");
  Manifest m = {Scan("d/big"), Scan("gone")};
  std::filesystem::remove(root_ + "/gone");
  HashStore store = OpenStore();
  TransferMeter meter;
  Ensure(m, {0, 1}, store, &meter);
  EXPECT_EQ(meter.hash_total.load(), big.size() + 5);
  EXPECT_EQ(meter.hashed.load(), big.size() + 5);
  m[0].hash.reset();
  Ensure(m, {0}, store, &meter);  // a cache hit reads nothing
  EXPECT_EQ(meter.hash_total.load(), big.size() + 5);
}

TEST_F(TreeTest, DeletedFileIsVanished) {
  Write("a", "hello");
  Manifest m = {Scan("a")};
  std::filesystem::remove(root_ + "/a");
  HashStore store = HashStore::InMemory();
  Ensure(m, {0}, store);
  EXPECT_FALSE(m[0].hash);
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
}

TEST_F(TreeTest, FileReplacedBySymlinkIsNotFollowed) {
  Write("secret", "do not read");
  Write("a", "hello");
  Manifest m = {Scan("a")};
  std::filesystem::remove(root_ + "/a");
  std::filesystem::create_symlink(root_ + "/secret", root_ + "/a");
  HashStore store = HashStore::InMemory();
  Ensure(m, {0}, store);
  EXPECT_FALSE(m[0].hash);
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
}

TEST_F(TreeTest, ParentReplacedBySymlinkIsNotFollowed) {
  Write("d/f", "inside");
  Manifest m = {Scan("d/f")};
  std::filesystem::rename(root_ + "/d", tmp_ + "/outside");
  std::filesystem::create_directory_symlink(tmp_ + "/outside", root_ + "/d");
  HashStore store = HashStore::InMemory();
  Ensure(m, {0}, store);
  EXPECT_FALSE(m[0].hash);
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
}

TEST_F(TreeTest, FileReplacedByFifoDoesNotBlock) {
  Write("a", "");
  Manifest m = {Scan("a")};
  std::filesystem::remove(root_ + "/a");
  ASSERT_EQ(::mkfifo((root_ + "/a").c_str(), 0600), 0);
  HashStore store = HashStore::InMemory();
  Ensure(m, {0}, store);
  EXPECT_FALSE(m[0].hash);
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Vanished);
}

TEST_F(TreeTest, SkipsNonFilesAndAlreadyHashed) {
  Write("a", "hello");
  Manifest m = {Scan(""), Scan("a")};
  m[1].hash = Hash128{1, 2};
  HashStore store = HashStore::InMemory();
  Ensure(m, {0, 1}, store);
  EXPECT_FALSE(m[0].hash);
  EXPECT_EQ(m[1].hash, (Hash128{1, 2}));
  EXPECT_EQ(store.stats().hashed, 0u);
  EXPECT_EQ(store.stats().misses + store.stats().hits, 0u);
  EXPECT_FALSE(problems_.HasErrors());
}

// ---- OpenBeneath, both the openat2 path and the fallback walk.

using OpenFn = UniqueFd (*)(int, std::string_view, int, mode_t);

class OpenBeneathTest : public TreeTest, public ::testing::WithParamInterface<OpenFn> {
 protected:
  UniqueFd Open(std::string_view rel, int flags = O_RDONLY) {
    return GetParam()(root_fd_.get(), rel, flags, 0);
  }
};

TEST_P(OpenBeneathTest, OpensNestedFile) {
  Write("d/f", "x");
  UniqueFd fd = Open("d/f");
  ASSERT_TRUE(fd) << std::strerror(errno);
  char c = 0;
  EXPECT_EQ(::read(fd.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_NE(::fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST_P(OpenBeneathTest, EmptyPathIsTheRoot) {
  UniqueFd fd = Open("", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(fd) << std::strerror(errno);
  struct stat a{}, b{};
  ::fstat(fd.get(), &a);
  ::fstat(root_fd_.get(), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_P(OpenBeneathTest, RefusesSymlinkAsLastComponent) {
  Write("f", "x");
  std::filesystem::create_symlink("f", root_ + "/link");
  errno = 0;
  EXPECT_FALSE(Open("link"));
  EXPECT_EQ(errno, ELOOP);
}

TEST_P(OpenBeneathTest, RefusesSymlinkInTheMiddle) {
  Write("d/f", "x");
  std::filesystem::create_directory_symlink("d", root_ + "/dl");
  errno = 0;
  EXPECT_FALSE(Open("dl/f"));
  EXPECT_EQ(errno, ELOOP);
}

TEST_P(OpenBeneathTest, RefusesDotDot) {
  Write("f", "x");
  errno = 0;
  EXPECT_FALSE(Open("d/../../root/f"));
  EXPECT_EQ(errno, EXDEV);
}

TEST_P(OpenBeneathTest, ReportsMissingFile) {
  errno = 0;
  EXPECT_FALSE(Open("d/missing"));
  EXPECT_EQ(errno, ENOENT);
  errno = 0;
  EXPECT_FALSE(Open("missing/f"));
  EXPECT_EQ(errno, ENOENT);
}

TEST_P(OpenBeneathTest, CreatesWithMode) {
  UniqueFd fd = GetParam()(root_fd_.get(), "d/new", O_WRONLY | O_CREAT | O_EXCL, 0640);
  ASSERT_TRUE(fd) << std::strerror(errno);
  struct stat st{};
  ::fstat(fd.get(), &st);
  EXPECT_EQ(st.st_mode & 0777 & ~0022u, 0640u & ~0022u);
}

INSTANTIATE_TEST_SUITE_P(Both, OpenBeneathTest,
                         ::testing::Values(&OpenBeneath, &OpenBeneathByWalk),
                         [](const auto& info) { return info.index == 0 ? "openat2" : "walk"; });

}  // namespace
}  // namespace ktsync
