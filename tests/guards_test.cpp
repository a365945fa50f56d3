// links: ktsync_mirror
// Safety guards (mirror/guards.h): when a real run must compare the trees before a first
// mirror changes anything. Pure.
#include "mirror/guards.h"

#include <gtest/gtest.h>

namespace ktsync {
namespace {

MirrorSpec Deleting() {
  MirrorSpec s;
  s.plan.delete_extraneous = true;
  return s;
}

TEST(MustCompareFirst, AFirstRealMirrorThatMayDeleteMust) {
  EXPECT_TRUE(MustCompareFirst(Deleting(), /*mirrored_before=*/false));
}

TEST(MustCompareFirst, ATreeMirroredIntoBeforeNeedNot) {
  EXPECT_FALSE(MustCompareFirst(Deleting(), /*mirrored_before=*/true));
}

// A dry run applies the guard itself; it is what the comparison is.
TEST(MustCompareFirst, ADryRunNeedNot) {
  MirrorSpec s = Deleting();
  s.dry_run = true;
  EXPECT_FALSE(MustCompareFirst(s, false));
}

TEST(MustCompareFirst, NoDeleteForceDeleteOrAnEarlierComparisonNeedNot) {
  MirrorSpec no_delete = Deleting();
  no_delete.plan.delete_extraneous = false;
  MirrorSpec forced = Deleting();
  forced.deletes.force_delete = true;
  MirrorSpec compared = Deleting();
  compared.deletes.compared_first = true;
  EXPECT_FALSE(MustCompareFirst(no_delete, false));
  EXPECT_FALSE(MustCompareFirst(forced, false));
  EXPECT_FALSE(MustCompareFirst(compared, false));
}

TEST(CheckSourceNotEmpty, AnEmptySourceOntoAFullDestinationIsRefused) {
  try {
    CheckSourceNotEmpty(1, 5, /*src_root_partial=*/false, "/mnt/src", "/srv/dst");
    ADD_FAILURE() << "not refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::UnsafeSource);
    EXPECT_NE(std::string(e.what()).find("4 entries that would all be deleted"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(CheckSourceNotEmpty(2, 5, false, "s", "d"));  // SRC has something
  EXPECT_NO_THROW(CheckSourceNotEmpty(1, 1, false, "s", "d"));  // DST is empty too
}

// --files-from with an empty list, or with every listed path missing: SRC's root took only
// what was listed, so none of DST's entries would be deleted: nothing to do, as for rsync.
TEST(CheckSourceNotEmpty, APartialSourceRootIsNothingToDo) {
  EXPECT_NO_THROW(CheckSourceNotEmpty(1, 5, /*src_root_partial=*/true, "s", "d"));
}

TEST(CompareFirstError, IsTheInternalCodeAndNamesDestination) {
  Error e = CompareFirstError("/srv/backup");
  EXPECT_EQ(e.code(), ExitCode::CompareFirst);
  EXPECT_NE(std::string(e.what()).find("/srv/backup"), std::string::npos);
}

}  // namespace
}  // namespace ktsync
