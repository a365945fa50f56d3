// links: ktsync_manifest
// What a daemon's WriteLimits let a pushing client create: pure decisions on entries.
#include "manifest/write_limits.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

constexpr WriteLimits kNothing{false, false, false};

Entry Make(EntryType type, uint32_t mode, std::string path = "e") {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  return e;
}

TEST(WriteLimits, DevicesAreRefusedUnlessAllowed) {
  for (EntryType t : {EntryType::CharDev, EntryType::BlockDev}) {
    Entry e = Make(t, 0666, "dev/mem");
    EntryVerdict v = LimitEntry(e, kNothing);
    EXPECT_EQ(v.kind, EntryVerdict::Refused);
    EXPECT_NE(v.why.find("dev/mem: device node not created"), std::string::npos) << v.why;
    EXPECT_NE(v.why.find("--allow-devices"), std::string::npos) << v.why;
    EXPECT_EQ(LimitEntry(e, WriteLimits{}).kind, EntryVerdict::Allowed);
  }
  for (EntryType t : {EntryType::Fifo, EntryType::Socket}) {
    Entry e = Make(t, 0644);
    EXPECT_EQ(LimitEntry(e, kNothing).kind, EntryVerdict::Allowed) << "FIFOs and sockets grant nothing";
  }
}

TEST(WriteLimits, SetidBitsAreTrimmedFromFilesButNotFromDirectories) {
  Entry f = Make(EntryType::File, 06755, "bin/sh");
  EntryVerdict v = LimitEntry(f, kNothing);
  EXPECT_EQ(v.kind, EntryVerdict::Trimmed);
  EXPECT_EQ(f.mode, 0755u);
  EXPECT_NE(v.why.find("bin/sh: kept without its setuid/setgid bits"), std::string::npos) << v.why;
  EXPECT_NE(v.why.find("--allow-setid"), std::string::npos) << v.why;

  Entry sticky = Make(EntryType::File, 01777);
  EXPECT_EQ(LimitEntry(sticky, kNothing).kind, EntryVerdict::Allowed);
  EXPECT_EQ(sticky.mode, 01777u);

  Entry dir = Make(EntryType::Dir, 02775);
  EXPECT_EQ(LimitEntry(dir, kNothing).kind, EntryVerdict::Allowed);
  EXPECT_EQ(dir.mode, 02775u);

  Entry allowed = Make(EntryType::File, 04755);
  EXPECT_EQ(LimitEntry(allowed, WriteLimits{false, true, false}).kind, EntryVerdict::Allowed);
  EXPECT_EQ(allowed.mode, 04755u);
}

TEST(WriteLimits, OwnersAndPrivilegedXattrsFollowTheirSwitches) {
  MirrorSpec s;
  s.plan.owner = s.plan.group = true;
  MirrorSpec limited = LimitSpec(s, kNothing);
  EXPECT_FALSE(limited.plan.owner);
  EXPECT_FALSE(limited.plan.group);
  MirrorSpec kept = LimitSpec(s, WriteLimits{false, false, true});
  EXPECT_TRUE(kept.plan.owner);
  EXPECT_TRUE(kept.plan.group);

  EXPECT_EQ(LimitXattrClasses(kXattrAll, kNothing), kXattrUser | kXattrAcl);
  EXPECT_EQ(LimitXattrClasses(kXattrAll, WriteLimits{false, true, false}), kXattrAll);
  EXPECT_EQ(LimitXattrClasses(kXattrUnprivileged, WriteLimits{}), kXattrUnprivileged);
}

}  // namespace
}  // namespace ktsync
