// links: ktsync_manifest
// Extended attributes as values: classes, the edit that makes one set another, the limits,
// what the diff reports and what the planner counts as not writable.
#include "manifest/xattrs.h"

#include <gtest/gtest.h>

#include "manifest/diff.h"
#include "manifest/entry.h"

namespace ktsync {
namespace {

TEST(Xattrs, ClassesFollowTheNamespaces) {
  EXPECT_EQ(XattrClassOf("user.mime_type"), kXattrUser);
  EXPECT_EQ(XattrClassOf("security.capability"), kXattrSecurity);
  EXPECT_EQ(XattrClassOf("trusted.overlay.opaque"), kXattrTrusted);
  EXPECT_EQ(XattrClassOf("system.posix_acl_access"), kXattrAcl);
  EXPECT_EQ(XattrClassOf("system.posix_acl_default"), kXattrAcl);
  // The filesystem's own (ext4 inline data, NFSv4 ACLs) and bare prefixes are never copied.
  EXPECT_EQ(XattrClassOf("system.data"), 0);
  EXPECT_EQ(XattrClassOf("system.nfs4_acl"), 0);
  EXPECT_EQ(XattrClassOf("user."), 0);
  EXPECT_EQ(XattrClassOf("com.apple.quarantine"), 0);
}

TEST(Xattrs, DiffSetsWhatIsNewOrDifferentAndRemovesWhatIsGone) {
  Xattrs want = {{"security.capability", "cap"}, {"user.a", "1"}, {"user.c", "3"}};
  Xattrs have = {{"security.selinux", "label"}, {"user.a", "old"}, {"user.b", "2"}, {"user.c", "3"}};
  XattrEdit all = DiffXattrs(want, have, kXattrAll);
  ASSERT_EQ(all.set.size(), 2u);
  EXPECT_EQ(all.set[0]->name, "security.capability");
  EXPECT_EQ(all.set[1]->name, "user.a");
  EXPECT_EQ(all.remove, (std::vector<std::string>{"security.selinux", "user.b"}));
  // Unprivileged: names of other classes are neither set nor removed.
  XattrEdit user = DiffXattrs(want, have, kXattrUser);
  ASSERT_EQ(user.set.size(), 1u);
  EXPECT_EQ(user.set[0]->name, "user.a");
  EXPECT_EQ(user.remove, std::vector<std::string>{"user.b"});
  EXPECT_TRUE(DiffXattrs(want, want, kXattrAll).empty());
  EXPECT_TRUE(XattrsEqualIn(want, have, 0));
  EXPECT_FALSE(XattrsEqualIn(want, have, kXattrSecurity));
  EXPECT_TRUE(XattrsEqualIn({{"user.x", "1"}}, {}, kXattrAcl));
}

TEST(Xattrs, ProblemsNameTheBrokenRule) {
  EXPECT_EQ(XattrsProblem({}), "");
  EXPECT_EQ(XattrsProblem({{"user.a", ""}, {"user.b", "v"}}), "");
  EXPECT_NE(XattrsProblem({{"user.b", ""}, {"user.a", ""}}).find("not sorted"), std::string::npos);
  EXPECT_NE(XattrsProblem({{"user.a", ""}, {"user.a", ""}}).find("repeated"), std::string::npos);
  EXPECT_NE(XattrsProblem({{"system.data", ""}}).find("is not copied"), std::string::npos);
  EXPECT_NE(XattrsProblem({{"user." + std::string(251, 'n'), ""}}).find("over 255 bytes"), std::string::npos);
  EXPECT_NE(XattrsProblem({{"user.a", std::string(kMaxXattrValueBytes + 1, 'v')}}).find("over 64 KiB"),
            std::string::npos);
  EXPECT_NE(XattrsProblem({{"user.a", std::string(kMaxXattrBytes, 'v')}}).find("ktsync's limit"), std::string::npos);
  Xattrs many;
  for (size_t i = 0; i <= kMaxXattrCount; ++i) many.push_back({"user." + std::to_string(100000 + i), ""});
  EXPECT_NE(XattrsProblem(many).find("the limit is 1024"), std::string::npos);
}

TEST(Xattrs, LossesBecomeOneLine) {
  XattrLosses losses;
  EXPECT_EQ(losses.Describe("why"), "");
  losses.Add(kXattrSecurity, "usr/bin/ping");
  losses.Add(kXattrTrusted | kXattrSecurity, "x");
  EXPECT_EQ(losses.Describe("only root may set them"),
            "security.*, trusted.* of 2 entries not copied: only root may set them (first: usr/bin/ping)");
  XattrLosses root;
  root.Add(kXattrAcl, "");
  EXPECT_EQ(root.Describe("no"), "ACLs of 1 entry not copied: no (first: .)");
}

Entry WithXattrs(Xattrs xs) {
  Entry e;
  e.path = "f";
  e.set_xattrs(std::move(xs));
  return e;
}

TEST(Xattrs, MetaBitsTellAclsFromOtherAttributesAndSkipWhatDstCannotWrite) {
  PlanOptions opts;
  opts.xattrs = kXattrAll;
  Entry plain = WithXattrs({});
  Entry acl = WithXattrs({{"system.posix_acl_access", "a"}});
  Entry cap = WithXattrs({{"security.capability", "c"}});
  Entry both = WithXattrs({{"security.capability", "c"}, {"system.posix_acl_access", "a"}});
  EXPECT_EQ(MetaBits(acl, plain, opts), kChAcl);
  EXPECT_EQ(MetaBits(cap, plain, opts), kChXattr);
  EXPECT_EQ(MetaBits(both, plain, opts), kChAcl | kChXattr);
  EXPECT_EQ(MetaBits(plain, both, opts), kChAcl | kChXattr);  // stale ones go too
  EXPECT_EQ(MetaBits(both, both, opts), 0);
  opts.xattrs_writable = kXattrUnprivileged;  // an unprivileged DST: runs still converge
  EXPECT_EQ(MetaBits(cap, plain, opts), 0);
  EXPECT_EQ(MetaBits(both, plain, opts), kChAcl);
  opts.xattrs = 0;  // --no-xattrs --no-acls
  EXPECT_EQ(MetaBits(both, plain, opts), 0);
}

}  // namespace
}  // namespace ktsync
