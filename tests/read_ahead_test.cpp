// links: ktsync_util
#include "util/read_ahead.h"
#include "util/work_queue.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <string>
#include <vector>

#include "util/io_ring.h"
#include "util/unique_fd.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
using namespace ktsync;
using Clock = std::chrono::steady_clock;

namespace {

class ReadAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(base_ / "root" / "d");
    root_.reset(open((base_ / "root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_);
  }

  void Add(const std::string& rel, uint64_t size) {
    paths_.push_back(rel);
    sizes_.push_back(size);
  }
  void WriteFile(const std::string& rel, size_t size) {
    std::ofstream(base_ / "root" / rel) << std::string(size, 'x');
    Add(rel, size);
  }
  void Evict(size_t i) {
    UniqueFd fd(open((base_ / "root" / paths_[i]).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    ASSERT_EQ(fdatasync(fd.get()), 0);  // dirty pages cannot be dropped
    ASSERT_EQ(posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  }
  // Whether every page of file i is in the page cache (mincore does not fault them in).
  bool Resident(size_t i) const {
    UniqueFd fd(open((base_ / "root" / paths_[i]).c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || sizes_[i] == 0) return false;
    void* p = mmap(nullptr, sizes_[i], PROT_READ, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) return false;
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = (sizes_[i] + page - 1) / page;
    std::vector<unsigned char> vec(pages + 1);
    bool all = mincore(p, sizes_[i], vec.data()) == 0;
    for (size_t k = 0; all && k < pages; ++k) all = (vec[k] & 1) != 0;
    munmap(p, sizes_[i]);
    return all;
  }
  bool BecomesResident(size_t i) const {
    for (auto end = Clock::now() + std::chrono::seconds(10); Clock::now() < end;) {
      if (Resident(i)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }
  std::vector<ReadAheadFile> Files() const {
    std::vector<ReadAheadFile> out;
    for (size_t i = 0; i < paths_.size(); ++i) out.push_back({paths_[i], sizes_[i]});
    return out;
  }

  TempDir base_{"ktsync-read-ahead"};
  UniqueFd root_;
  std::vector<std::string> paths_;
  std::vector<uint64_t> sizes_;
};

// A list whose readers the test moves by hand.
class FixedList : public ReadAheadList {
 public:
  explicit FixedList(std::vector<ReadAheadFile> files) : files_(std::move(files)) {}
  uint64_t taken() const override { return taken_.load(); }
  void Peek(uint64_t from, size_t max, std::vector<std::pair<uint64_t, ReadAheadFile>>& out) const override {
    for (uint64_t p = std::max(from, taken()); p < files_.size() && out.size() < max; ++p) out.emplace_back(p, files_[p]);
  }
  void Take(uint64_t n) { taken_.store(n); }

 private:
  std::vector<ReadAheadFile> files_;
  std::atomic<uint64_t> taken_{0};
};

TEST_F(ReadAheadTest, ReportsWhichBackendRuns) {
  const IoBackendChoice& c = ChosenIoBackend();
  EXPECT_EQ(c.uring, c.why_not.empty());
  EXPECT_FALSE(DescribeIoBackend().empty());
  std::cout << "read-ahead backend: " << DescribeIoBackend() << "\n";
}

// Files are evicted from the page cache first; the read-ahead must bring back those within
// its window of the readers, and not those beyond it until the readers move on.
TEST_F(ReadAheadTest, WarmsTheFilesAWindowAheadOfTheReaders) {
  const size_t n = ReadAhead::kWindow + 4 * ReadAhead::kBatch;
  for (size_t i = 0; i < n; ++i) WriteFile("d/f" + std::to_string(i), 8192);
  for (size_t i = 0; i < n; ++i) Evict(i);
  if (Resident(0) || Resident(n - 1)) GTEST_SKIP() << "this filesystem keeps evicted files cached (tmpfs?)";
  FixedList list(Files());
  ReadAhead ahead(root_.get(), list);
  EXPECT_TRUE(BecomesResident(ReadAhead::kWindow - 1)) << "last file of the first window";
  EXPECT_FALSE(Resident(n - 1)) << "warmed beyond the window";
  list.Take(n - ReadAhead::kWindow);  // the readers moved on: the window now ends at n
  EXPECT_TRUE(BecomesResident(n - 1)) << "last file, once the readers came within a window";
  list.Take(n);
}

// A queue fills while the copy runs: files queued after the read-ahead started are warmed.
TEST_F(ReadAheadTest, WarmsFilesQueuedAfterItStarted) {
  for (int i = 0; i < 8; ++i) WriteFile("d/q" + std::to_string(i), 8192);
  for (size_t i = 0; i < 8; ++i) Evict(i);
  if (Resident(0)) GTEST_SKIP() << "this filesystem keeps evicted files cached (tmpfs?)";
  WorkQueue<ReadAheadFile> queue(64, [](const ReadAheadFile& f) { return f; });
  ReadAhead ahead(root_.get(), queue);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // it waits on an empty queue
  std::vector<ReadAheadFile> files = Files();
  queue.PushAll(files);
  EXPECT_TRUE(BecomesResident(7)) << "last file queued";
  queue.Close(/*discard=*/true);
}

// Nothing here may block or escape: a FIFO (open would block without O_NONBLOCK), a symlink
// to a FIFO outside the root, a path that climbs out, a vanished file, a directory.
TEST_F(ReadAheadTest, HostileEntriesNeitherBlockNorEscape) {
  ASSERT_EQ(mkfifo((base_ / "root" / "fifo").c_str(), 0600), 0);
  ASSERT_EQ(mkfifo((base_ / "outside-fifo").c_str(), 0600), 0);
  fs::create_symlink(base_ / "outside-fifo", base_ / "root" / "link");
  Add("fifo", 10);
  Add("link", 10);
  Add("../outside-fifo", 10);
  Add("gone", 10);
  Add("d", 10);
  WriteFile("last", 10);
  FixedList list(Files());
  auto t0 = Clock::now();
  {
    ReadAhead ahead(root_.get(), list);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let it reach every entry
    list.Take(paths_.size());
  }
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(ReadAheadTest, StopsPromptlyWhileReadersStall) {
  for (int i = 0; i < 2000; ++i) Add("missing" + std::to_string(i), 4096);
  FixedList list(Files());
  auto t0 = Clock::now();
  { ReadAhead ahead(root_.get(), list); }
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(ReadAheadTest, EmptyListAndLargeFilesAreFine) {
  FixedList none({});
  { ReadAhead ahead(root_.get(), none); }
  Add("huge", ReadAhead::kMaxFileBytes + 1);  // skipped: never opened, though it does not exist
  Add("empty", 0);
  FixedList list(Files());
  { ReadAhead ahead(root_.get(), list); }
}

}  // namespace
