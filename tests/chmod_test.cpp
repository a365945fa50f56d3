// links: ktsync_manifest
// --chmod rules (src/manifest/chmod.h): what rsync 3.x gives, with umask 022 unless named.
#include "manifest/chmod.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace ktsync {
namespace {

uint32_t File(const std::string& rules, uint32_t mode, uint32_t umask = 022) {
  return ApplyChmod(ParseChmod(rules, umask), mode, false);
}
uint32_t Dir(const std::string& rules, uint32_t mode, uint32_t umask = 022) {
  return ApplyChmod(ParseChmod(rules, umask), mode, true);
}

TEST(Chmod, RsyncManPageExample) {
  EXPECT_EQ(File("Dg+s,ug+w,Fo-w,+X", 0644), 0664u);
  EXPECT_EQ(File("Dg+s,ug+w,Fo-w,+X", 0706), 0735u);  // had an execute bit: +X adds them all
  EXPECT_EQ(Dir("Dg+s,ug+w,Fo-w,+X", 0755), 02775u);
}

TEST(Chmod, OctalSetsEveryBitOfItsKindOnly) {
  EXPECT_EQ(File("D755,F644", 04711), 0644u);
  EXPECT_EQ(Dir("D755,F644", 0700), 0755u);
  EXPECT_EQ(File("7777", 0), 07777u);
}

TEST(Chmod, WhoOpPerms) {
  EXPECT_EQ(File("u=rwx,go=rx", 0600), 0755u);
  EXPECT_EQ(File("a+x", 0644), 0755u);
  EXPECT_EQ(File("o=", 0644), 0640u);
  EXPECT_EQ(File("go-rwx", 0777), 0700u);
  EXPECT_EQ(File("u+s,g+s", 0755), 06755u);
  EXPECT_EQ(Dir("+t", 0755), 01755u);
  EXPECT_EQ(File("a+s", 0755), 04755u);  // as rsync: s without u or g is setuid
}

TEST(Chmod, WithoutWhoTheUmaskApplies) {
  EXPECT_EQ(File("+w", 0444), 0644u);
  EXPECT_EQ(File("+r", 0, 077), 0400u);
  EXPECT_EQ(File("-x", 0755), 0644u);
}

TEST(Chmod, CapitalXOnlyForDirectoriesAndWhatWasExecutable) {
  EXPECT_EQ(File("a+X", 0644), 0644u);
  EXPECT_EQ(File("a+X", 0744), 0755u);
  EXPECT_EQ(Dir("a+X", 0600), 0711u);
}

TEST(Chmod, RefusesWhatRsyncRefuses) {
  for (const char* bad : {"", "q+x", "u", "DF644", "FD+x", "9", "u+z", "755x", "u+r,,g+r", "u644", "17777", "+x,"}) {
    EXPECT_THROW(ParseChmod(bad, 022), Error) << bad;
  }
  std::string too_many = "+r";
  for (size_t i = 1; i <= kMaxChmodRules; ++i) too_many += ",+r";
  EXPECT_THROW(ParseChmod(too_many, 022), Error);
}

}  // namespace
}  // namespace ktsync
