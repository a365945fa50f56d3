// links: ktsync_manifest
#include "manifest/entry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace ktsync {
namespace {

TEST(EntryTest, DirectorySubtreeDirectlyFollowsIt) {
  std::vector<std::string> paths = {"b", "a.b", "a/c", "a", "a/b", "", "a b", "a/b/c"};
  std::sort(paths.begin(), paths.end(), [](const std::string& x, const std::string& y) {
    return PathLess(x, y);
  });
  std::vector<std::string> want = {"", "a", "a/b", "a/b/c", "a/c", "a b", "a.b", "b"};
  EXPECT_EQ(paths, want);
}

TEST(EntryTest, ComparePathsIsBytewiseUnsigned) {
  EXPECT_LT(ComparePaths("a", "\xff"), 0);
  EXPECT_LT(ComparePaths("a\nb", "a b"), 0);
  EXPECT_LT(ComparePaths("a/\xff", "a\x01"), 0);  // '/' ends a component: sorts first
  EXPECT_EQ(ComparePaths("x/y", "x/y"), 0);
  EXPECT_GT(ComparePaths("ab", "a"), 0);
}

TEST(EntryTest, SafeRelativePaths) {
  EXPECT_TRUE(IsSafeRelativePath(""));
  EXPECT_TRUE(IsSafeRelativePath("a/b c/\n\xff"));
  EXPECT_TRUE(IsSafeRelativePath("..a/.b"));
  EXPECT_FALSE(IsSafeRelativePath("/a"));
  EXPECT_FALSE(IsSafeRelativePath("a/"));
  EXPECT_FALSE(IsSafeRelativePath("a//b"));
  EXPECT_FALSE(IsSafeRelativePath("a/../b"));
  EXPECT_FALSE(IsSafeRelativePath(".."));
  EXPECT_FALSE(IsSafeRelativePath("./a"));
  EXPECT_FALSE(IsSafeRelativePath(std::string("a\0b", 3)));
}

TEST(EntryTest, ParentBaseNameAndDepth) {
  EXPECT_EQ(ParentPath("a/b/c"), "a/b");
  EXPECT_EQ(ParentPath("a"), "");
  EXPECT_EQ(BaseName("a/b/c"), "c");
  EXPECT_EQ(BaseName("a"), "a");
  EXPECT_EQ(PathDepth(""), 0);
  EXPECT_EQ(PathDepth("a"), 1);
  EXPECT_EQ(PathDepth("a/b/c"), 3);
}

}  // namespace
}  // namespace ktsync
