// links: ktsync_store
// `ktsync state list|prune`'s catalog (store/state_catalog.h): which databases prune removes
// (pure), and listing and removing real ones.
#include "store/state_catalog.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "store/hash_store.h"
#include "store/root_lock.h"
#include "store/state_dir.h"
#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kDay = 86400;

StateDb Db(bool exists, int64_t days_unused, bool locked = false) {
  StateDb db;
  db.path = "/state/roots/0123456789abcdef.sqlite";
  db.tree = "/srv/tree";
  db.tree_exists = exists;
  db.last_used = kNow - days_unused * kDay;
  db.locked = locked;
  return db;
}

TEST(PruneReason, MissingRemovesDatabasesOfTreesThatAreGone) {
  PruneRule rule{std::nullopt, true};
  EXPECT_EQ(PruneReason(Db(false, 0), rule, kNow), "its tree is gone");
  EXPECT_EQ(PruneReason(Db(true, 999), rule, kNow), "");
}

TEST(PruneReason, MissingRemovesADatabaseThatNamesNoTree) {
  StateDb db = Db(false, 0);
  db.tree.clear();
  EXPECT_EQ(PruneReason(db, {std::nullopt, true}, kNow), "it names no tree");
}

TEST(PruneReason, OlderThanRemovesDatabasesUnusedForMoreThanTheDays) {
  PruneRule rule{30, false};
  EXPECT_EQ(PruneReason(Db(true, 30), rule, kNow), "");
  EXPECT_EQ(PruneReason(Db(true, 31), rule, kNow), "not used for 31 days");
  EXPECT_EQ(PruneReason(Db(false, 1), rule, kNow), "") << "--missing was not asked for";
}

TEST(PruneReason, EitherRuleIsEnough) {
  PruneRule rule{30, true};
  EXPECT_NE(PruneReason(Db(false, 1), rule, kNow), "");
  EXPECT_NE(PruneReason(Db(true, 40), rule, kNow), "");
  EXPECT_EQ(PruneReason(Db(true, 1), rule, kNow), "");
}

// A running mirror is using it, however old or orphaned it looks.
TEST(PruneReason, NeverALockedDatabase) {
  EXPECT_EQ(PruneReason(Db(false, 400, /*locked=*/true), {30, true}, kNow), "");
}

class StateCatalogTest : public ::testing::Test {
 protected:
  void MakeDb(const std::string& tree, bool mirrored) {
    std::filesystem::create_directories(tree);
    HashStore s = HashStore::Open(tree, state_, nullptr);
    if (mirrored) s.MarkMirroredInto("1:2");
  }
  TempDir scratch_{"ktsync-catalog"};
  std::string state_ = scratch_.str() + "/state";
};

TEST_F(StateCatalogTest, AnAbsentStateDirListsNothing) { EXPECT_TRUE(ListStateDbs(state_).empty()); }

TEST_F(StateCatalogTest, ListsEachTreeWithWhatItsDatabaseRecords) {
  std::string a = scratch_.str() + "/a", b = scratch_.str() + "/b";
  MakeDb(a, true);
  MakeDb(b, false);
  std::filesystem::remove(b);
  std::vector<StateDb> dbs = ListStateDbs(state_);
  ASSERT_EQ(dbs.size(), 2u);
  EXPECT_EQ(dbs[0].tree, CanonicalRoot(a));
  EXPECT_TRUE(dbs[0].tree_exists);
  EXPECT_GT(dbs[0].mirrored_at, 0);
  EXPECT_GT(dbs[0].bytes, 0u);
  EXPECT_GT(dbs[0].last_used, 0);
  EXPECT_EQ(dbs[1].tree, b);
  EXPECT_FALSE(dbs[1].tree_exists);
  EXPECT_EQ(dbs[1].mirrored_at, 0);
  EXPECT_EQ(dbs[1].path, DbPathFor(state_, b));
}

TEST_F(StateCatalogTest, RefusesAStateDirOthersMayWrite) {
  MakeDb(scratch_.str() + "/a", false);
  ::chmod(state_.c_str(), 0777);
  try {
    ListStateDbs(state_);
    FAIL() << "listed a state dir others may write";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::SelectFiles);
  }
}

TEST_F(StateCatalogTest, RemovesADatabaseWithItsSideFilesUnlessARunHoldsIt) {
  std::string tree = scratch_.str() + "/t";
  MakeDb(tree, true);
  StateDb db = ListStateDbs(state_).at(0);
  {
    RootLock held = RootLock::Acquire(tree, state_, nullptr);
    ASSERT_TRUE(held.held());
    EXPECT_TRUE(ListStateDbs(state_).at(0).locked);
    std::string why;
    EXPECT_FALSE(RemoveStateDb(db, &why));
    EXPECT_NE(why.find("another ktsync run"), std::string::npos) << why;
  }
  std::string why;
  EXPECT_TRUE(RemoveStateDb(db, &why)) << why;
  EXPECT_TRUE(std::filesystem::is_empty(state_ + "/roots"));
}

}  // namespace
}  // namespace ktsync
