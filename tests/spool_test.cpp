// links: ktsync_store
#include "store/spool.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

std::vector<std::string> Reversed(Spool& s) {
  std::vector<std::string> out;
  s.ForEachReversed([&](std::string_view r) { out.emplace_back(r); });
  return out;
}

TEST(Spool, ReplaysLastFirstFromMemory) {
  Spool s("");
  s.Append("a");
  s.Append("");
  s.Append("ccc");
  EXPECT_EQ(s.count(), 3u);
  EXPECT_EQ(Reversed(s), (std::vector<std::string>{"ccc", "", "a"}));
}

// Beyond its memory the spool writes a temp file (nothing is left of it in the directory)
// and replays across it, records that straddle read chunks and records bigger than one.
TEST(Spool, ReplaysLastFirstAcrossItsFile) {
  TempDir dir("ktsync-spool");
  std::vector<std::string> records;
  Spool s(dir.str());
  for (int i = 0; i < 30000; ++i) {
    records.push_back(std::string(static_cast<size_t>(i % 97), static_cast<char>('a' + i % 26)) + std::to_string(i));
    s.Append(records.back());
  }
  records.push_back(std::string(Spool::kMaxRecordBytes, 'B'));  // longer than a read chunk
  s.Append(records.back());
  for (int i = 0; i < 20000; ++i) {
    records.push_back("tail" + std::to_string(i));
    s.Append(records.back());
  }
  std::vector<std::string> want(records.rbegin(), records.rend());
  EXPECT_EQ(Reversed(s), want);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "the spool file is unnamed";
  s.Clear();
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(Reversed(s).empty());
}

TEST(Spool, RefusesARecordAboveItsCap) {
  Spool s("");
  EXPECT_THROW(s.Append(std::string(Spool::kMaxRecordBytes + 1, 'x')), Error);
}

}  // namespace
}  // namespace ktsync
