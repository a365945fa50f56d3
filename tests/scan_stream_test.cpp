// links: ktsync_mirror
#include "mirror/scan_stream.h"

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

class ScanStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(base_ / "tree" / "d");
    std::ofstream(base_ / "tree" / "d" / "f") << "data";
    cfg_.state_dir = base_ / "state";
  }
  TreeSide Open() { return TreeSide::OpenSource(base_ / "tree", cfg_, nullptr); }

  // Every entry the stream yields, checking the batches' ordinals.
  static std::vector<std::string> Drain(ScanStream& s) {
    std::vector<std::string> paths;
    for (EntryBatch b; s.NextBatch(b);) {
      EXPECT_EQ(b.first, static_cast<int64_t>(paths.size()));
      for (const Entry& e : b.entries) paths.push_back(e.path);
    }
    return paths;
  }

  TempDir base_{"ktsync-scanstream"};
  TreeConfig cfg_;
};

TEST_F(ScanStreamTest, YieldsTheTreeInPathOrderAcrossBatches) {
  for (int i = 0; i < 2500; ++i) std::ofstream(base_ / "tree" / ("f" + std::to_string(10000 + i)));
  TreeSide side = Open();
  Problems problems;
  ScanStream scan(side, problems, false);
  std::vector<std::string> paths = Drain(scan);
  ASSERT_EQ(paths.size(), 2503u);  // more than kBatchEntries: several batches
  EXPECT_EQ(paths[0], "");
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end(), PathLess));
  EXPECT_EQ(scan.summary().entries, 2503u);
  EXPECT_EQ(scan.summary().files, 2501u);
  EXPECT_FALSE(problems.HasErrors());
}

// The caller failed first (say, its ssh login): the scan is abandoned, not awaited.
TEST_F(ScanStreamTest, AbandonedScanIsCancelledAndJoined) {
  for (int i = 0; i < 2000; ++i) fs::create_directory(base_ / "tree" / ("dir" + std::to_string(i)));
  TreeSide side = Open();
  Problems problems;
  { ScanStream scan(side, problems, false); }  // never read: its queue fills, then it is cancelled
  ScanStream again(side, problems, false);
  EXPECT_EQ(Drain(again).size(), 2003u);
}

// The progress meter counts the entries the summary counts: no Hidden markers.
TEST_F(ScanStreamTest, TheMeterSkipsHiddenMarkers) {
  std::ofstream(base_ / "tree" / "x.o") << "o";
  cfg_.filters = {ExcludeRule("*.o")};
  TreeSide side = TreeSide::OpenDest((base_ / "tree").string(), cfg_, /*dry_run=*/true, nullptr);
  TransferMeter meter;
  side.set_meter(&meter);
  Problems problems;
  ScanStream scan(side, problems, true);
  EXPECT_EQ(Drain(scan), (std::vector<std::string>{"", "d", "d/f", "x.o"}));  // x.o: a marker
  EXPECT_EQ(scan.summary().entries, 3u);
  EXPECT_EQ(meter.scanned.load(), 3u);
}

TEST_F(ScanStreamTest, AMissingDryRunDestinationIsAnEmptyRoot) {
  TreeSide side = TreeSide::OpenDest((base_ / "absent").string(), cfg_, /*dry_run=*/true, nullptr);
  Problems problems;
  ScanStream scan(side, problems, true);
  EXPECT_EQ(Drain(scan), (std::vector<std::string>{""}));
  EXPECT_FALSE(fs::exists(base_ / "absent"));
}

}  // namespace
}  // namespace ktsync
