// links: ktsync_mirror
#include "mirror/background_scan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

class BackgroundScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(base_ / "tree" / "d");
    std::ofstream(base_ / "tree" / "d" / "f") << "data";
    cfg_.state_dir = base_ / "state";
  }
  TreeSide Open() { return TreeSide::OpenSource(base_ / "tree", cfg_, nullptr); }

  TempDir base_{"ktsync-bgscan"};
  TreeConfig cfg_;
};

TEST_F(BackgroundScanTest, JoinReturnsTheScannedSideAndItsProblems) {
  ASSERT_EQ(::mkdir((base_ / "tree" / "closed").c_str(), 0), 0);
  BackgroundScan scan(Open());
  std::vector<Problem> problems;
  TreeSide side = scan.Join(problems);
  std::vector<std::string> paths;
  for (const Entry& e : side.manifest()) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"", "closed", "d", "d/f"}));
  if (::geteuid() != 0) {  // root reads a mode-0 directory
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].path, "closed");
  }
}

// The caller failed first (say, its ssh login): the scan is abandoned, not awaited.
TEST_F(BackgroundScanTest, AbandonedScanIsCancelledAndJoined) {
  for (int i = 0; i < 2000; ++i) fs::create_directory(base_ / "tree" / ("dir" + std::to_string(i)));
  { BackgroundScan scan(Open()); }
  BackgroundScan again(Open());  // the first released everything it held (the db)
  std::vector<Problem> problems;
  EXPECT_EQ(again.Join(problems).manifest().size(), 2003u);
}

}  // namespace
}  // namespace ktsync
