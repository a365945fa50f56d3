// links: ktsync_util
#include "util/work_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace ktsync {
namespace {

WorkQueue<ReadAheadFile> Queue(size_t capacity) {
  return WorkQueue<ReadAheadFile>(capacity, [](const ReadAheadFile& f) { return f; });
}

std::vector<ReadAheadFile> Files(std::initializer_list<uint64_t> sizes) {
  std::vector<ReadAheadFile> out;
  for (uint64_t s : sizes) out.push_back({"f" + std::to_string(out.size()), s});
  return out;
}

std::vector<std::string> Names(const std::vector<ReadAheadFile>& files) {
  std::vector<std::string> out;
  for (const ReadAheadFile& f : files) out.push_back(f.path);
  return out;
}

TEST(WorkQueueTest, SmallFilesGoInGroupsALargeOneAlone) {
  auto q = Queue(16);
  std::vector<ReadAheadFile> in = Files({10, 20, 30, 1000, 5, 5});
  ASSERT_TRUE(q.PushAll(in));
  EXPECT_TRUE(in.empty());
  q.Close();
  std::vector<ReadAheadFile> got;
  ASSERT_TRUE(q.PopSome(got, 8, 100));
  EXPECT_EQ(Names(got), (std::vector<std::string>{"f0", "f1", "f2"}));
  ASSERT_TRUE(q.PopSome(got, 8, 100));
  EXPECT_EQ(Names(got), (std::vector<std::string>{"f3"})) << "larger than the limit: alone, never left behind";
  ASSERT_TRUE(q.PopSome(got, 1, 100));
  EXPECT_EQ(Names(got), (std::vector<std::string>{"f4"}));
  EXPECT_EQ(q.taken(), 5u);
  ASSERT_TRUE(q.TryPopSome(got));
  EXPECT_EQ(Names(got), (std::vector<std::string>{"f5"}));
  EXPECT_FALSE(q.PopSome(got)) << "closed and empty";
  EXPECT_FALSE(q.TryPopSome(got));
}

TEST(WorkQueueTest, PushAllWaitsForRoomAndKeepsTheOrder) {
  auto q = Queue(4);
  std::vector<std::string> seen;
  std::thread reader([&] {
    for (std::vector<ReadAheadFile> got; q.PopSome(got, 3, 1000);)
      for (const std::string& n : Names(got)) seen.push_back(n);
  });
  std::vector<ReadAheadFile> in;
  for (int i = 0; i < 100; ++i) in.push_back({std::to_string(i), 1});
  ASSERT_TRUE(q.PushAll(in));
  q.Close();
  reader.join();
  ASSERT_EQ(seen.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(seen[static_cast<size_t>(i)], std::to_string(i));
}

TEST(WorkQueueTest, CloseWithDiscardDropsWhatWaitsAndWakesThePusher) {
  auto q = Queue(2);
  std::thread closer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    q.Close(/*discard=*/true);
  });
  std::vector<ReadAheadFile> in = Files({1, 1, 1, 1, 1});
  EXPECT_FALSE(q.PushAll(in)) << "the queue closed while it waited for room";
  closer.join();
  EXPECT_TRUE(q.discarded());
  std::vector<ReadAheadFile> got;
  EXPECT_FALSE(q.TryPopSome(got));
  EXPECT_EQ(q.taken(), 2u) << "dropped items count as taken, so read-ahead stops at them";
}

}  // namespace
}  // namespace ktsync
