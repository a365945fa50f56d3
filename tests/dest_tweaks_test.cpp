// links: ktsync_manifest
// --safe-links' notion of unsafe and the per-entry tweaks (src/manifest/dest_tweaks.h).
#include "manifest/dest_tweaks.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

TEST(UnsafeSymlink, AbsoluteAndEmptyTargetsAreUnsafe) {
  EXPECT_TRUE(UnsafeSymlink("/etc/passwd", "a"));
  EXPECT_TRUE(UnsafeSymlink("", "a"));
}

TEST(UnsafeSymlink, ClimbingAboveTheRootAtAnyPointIsUnsafe) {
  EXPECT_FALSE(UnsafeSymlink("b", "a"));
  EXPECT_FALSE(UnsafeSymlink("./b/", "a"));
  EXPECT_TRUE(UnsafeSymlink("../x", "a"));
  EXPECT_FALSE(UnsafeSymlink("../x", "d/a"));
  EXPECT_TRUE(UnsafeSymlink("../../x", "d/a"));
  EXPECT_TRUE(UnsafeSymlink("d/../../x", "a"));
  EXPECT_TRUE(UnsafeSymlink("../d/x", "a"));  // out and back in: rsync calls it unsafe
  EXPECT_FALSE(UnsafeSymlink("x/..", "a"));
  EXPECT_FALSE(UnsafeSymlink("..", "d/a"));
  EXPECT_TRUE(UnsafeSymlink("..", "a"));
}

TEST(DestTweaks, SafeLinksLeaveUnsafeSymlinksAlone) {
  DestTweaks t;
  t.safe_links = true;
  Entry e;
  e.path = "d/l";
  e.type = EntryType::Symlink;
  e.set_link_target("../../etc");
  EXPECT_FALSE(TweakEntry(e, t));
  e.set_link_target("../f");
  EXPECT_TRUE(TweakEntry(e, t));
}

TEST(DestTweaks, ChmodSkipsSymlinksAndChownSetsBoth) {
  DestTweaks t;
  t.chmod = ParseChmod("a-w", 022);
  t.uid = 7;
  t.gid = 8;
  Entry link;
  link.type = EntryType::Symlink;
  link.mode = 0777;
  link.set_link_target("x");
  EXPECT_TRUE(TweakEntry(link, t));
  EXPECT_EQ(link.mode, 0777u);
  Entry dir;
  dir.type = EntryType::Dir;
  dir.mode = 0755;
  EXPECT_TRUE(TweakEntry(dir, t));
  EXPECT_EQ(dir.mode, 0555u);
  EXPECT_EQ(dir.uid, 7u);
  EXPECT_EQ(dir.gid, 8u);
}

}  // namespace
}  // namespace ktsync
