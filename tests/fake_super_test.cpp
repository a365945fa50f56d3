// links: ktsync_manifest
// --fake-super's attribute: what it records of an entry and how a scanned stand-in becomes
// that entry again. Pure values.
#include "manifest/fake_super.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

Entry Make(EntryType type, uint32_t mode, uint32_t uid, uint32_t gid) {
  Entry e;
  e.path = "e";
  e.type = type;
  e.mode = mode;
  e.uid = uid;
  e.gid = gid;
  return e;
}

TEST(FakeSuper, RoundTripsEveryTypeThroughItsStandIn) {
  Entry dev = Make(EntryType::CharDev, 0666, 0, 0);
  dev.set_rdev(259);
  for (Entry logical : {dev, Make(EntryType::BlockDev, 0660, 0, 6), Make(EntryType::Fifo, 0600, 7, 8),
                        Make(EntryType::Socket, 0755, 1, 1), Make(EntryType::File, 04755, 0, 0),
                        Make(EntryType::Dir, 02750, 12345, 23456), Make(EntryType::File, 0, 1, 2)}) {
    Entry scanned = Make(PhysicalType(logical.type), PhysicalMode(logical), 65534, 65534);
    ASSERT_TRUE(ApplyFakeStat(EncodeFakeStat(logical), scanned)) << EncodeFakeStat(logical);
    EXPECT_EQ(scanned.type, logical.type);
    EXPECT_EQ(scanned.mode, logical.mode);
    EXPECT_EQ(scanned.uid, logical.uid);
    EXPECT_EQ(scanned.gid, logical.gid);
    EXPECT_EQ(scanned.rdev(), logical.rdev());
  }
  EXPECT_EQ(EncodeFakeStat(dev), "6 666 0:0 259");
}

TEST(FakeSuper, OnDiskNothingIsPrivilegedAndTheOwnerCanAlwaysGetIn) {
  EXPECT_EQ(PhysicalType(EntryType::CharDev), EntryType::File);
  EXPECT_EQ(PhysicalType(EntryType::Fifo), EntryType::File);
  EXPECT_EQ(PhysicalType(EntryType::Dir), EntryType::Dir);
  EXPECT_EQ(PhysicalType(EntryType::Symlink), EntryType::Symlink);
  EXPECT_EQ(PhysicalMode(Make(EntryType::File, 06755, 0, 0)), 0755u);
  EXPECT_EQ(PhysicalMode(Make(EntryType::File, 0, 0, 0)), 0600u);
  EXPECT_EQ(PhysicalMode(Make(EntryType::Dir, 01000, 0, 0)), 01700u);
}

TEST(FakeSuper, MalformedOrContradictingValuesChangeNothing) {
  Entry file = Make(EntryType::File, 0644, 65534, 65534);
  file.size = 10;
  for (const char* bad : {"", "1", "1 644", "1 644 0", "1 644 0:0 9", "9 644 0:0", "1 19999 0:0", "x 644 0:0",
                          "1 644 0:0:0", "6 666 0:0", "2 755 0:0", "6 666 0:0 259"}) {
    Entry e = file;
    EXPECT_FALSE(ApplyFakeStat(bad, e)) << bad;
    EXPECT_EQ(e.mode, 0644u) << bad;
    EXPECT_EQ(e.type, EntryType::File) << bad;
  }
}

TEST(FakeSuper, TheAttributeIsNeverAnEntrysXattr) {
  Entry e = Make(EntryType::File, 0644, 0, 0);
  e.set_xattrs({{"user.a", "1"}, {kFakeSuperXattr, "1 644 0:0"}, {"user.z", "2"}});
  StripFakeStat(e);
  ASSERT_EQ(e.xattrs().size(), 2u);
  EXPECT_EQ(e.xattrs()[0].name, "user.a");
  EXPECT_EQ(e.xattrs()[1].name, "user.z");
}

}  // namespace
}  // namespace ktsync
