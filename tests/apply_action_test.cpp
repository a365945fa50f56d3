// links: ktsync_apply
#include "apply/apply_action.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "apply/temp_name.h"
#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

class ApplyActionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dst_);
    tree_ = std::make_unique<DestTree>(DestTree::Open(dst_.string()));
  }
  static Action Make(ActionKind kind, std::string path, EntryType type) {
    Action a;
    a.kind = kind;
    a.entry.path = std::move(path);
    a.entry.type = type;
    a.entry.mode = 0755;
    return a;
  }

  TempDir base_{"ktsync-apply-action"};
  fs::path dst_ = base_.path() / "dst";
  std::unique_ptr<DestTree> tree_;
};

// A peer chooses the paths: each hostile one fails as that entry's error, nothing escapes.
TEST_F(ApplyActionTest, HostilePathsFailAndNothingLandsOutside) {
  Action up = Make(ActionKind::MkDir, "../evil", EntryType::Dir);
  Action abs = Make(ActionKind::Symlink, "/tmp/ktsync-abs-evil", EntryType::Symlink);
  abs.entry.set_link_target("x");
  EXPECT_THROW(ApplyAction(up, *tree_, {}), Error);
  EXPECT_THROW(ApplyAction(abs, *tree_, {}), Error);
  ApplyAction(Make(ActionKind::MkDir, "fine", EntryType::Dir), *tree_, {});
  EXPECT_FALSE(fs::exists(base_.path() / "evil"));
  EXPECT_FALSE(fs::exists("/tmp/ktsync-abs-evil"));
  EXPECT_TRUE(fs::is_directory(dst_ / "fine"));
}

TEST_F(ApplyActionTest, AHardLinkNeedsALeaderAndFileDataIsNotItsBusiness) {
  EXPECT_THROW(ApplyAction(Make(ActionKind::HardLink, "b", EntryType::File), *tree_, {}), Error);
  EXPECT_THROW(ApplyAction(Make(ActionKind::SendFile, "f", EntryType::File), *tree_, {}), Error);
}

TEST_F(ApplyActionTest, RemoveStaleTempsRemovesOnlyTempNames) {
  fs::create_directory(dst_ / "d");
  std::string t1 = std::string(kTempPrefix) + "0123456789abcdef";
  std::ofstream(dst_ / t1);
  std::ofstream(dst_ / "d" / t1);
  std::ofstream(dst_ / "keep");
  fs::create_directory(base_.path() / "outside");
  std::ofstream(base_.path() / "outside" / t1);
  size_t n = RemoveStaleTemps(*tree_, {t1, "d/" + t1, "keep", "../outside/" + t1, ""});
  EXPECT_EQ(n, 2u);
  EXPECT_FALSE(fs::exists(dst_ / t1));
  EXPECT_FALSE(fs::exists(dst_ / "d" / t1));
  EXPECT_TRUE(fs::exists(dst_ / "keep"));
  EXPECT_TRUE(fs::exists(base_.path() / "outside" / t1));
}

// A killed run's temp may sit in a directory whose times this run already set.
TEST_F(ApplyActionTest, RemovingAStaleTempKeepsItsDirectorysTimes) {
  fs::create_directory(dst_ / "d");
  std::string t1 = std::string(kTempPrefix) + "0123456789abcdef";
  std::ofstream(dst_ / "d" / t1);
  auto old_time = fs::file_time_type::clock::now() - std::chrono::hours(48);
  fs::last_write_time(dst_ / "d", old_time);
  EXPECT_EQ(RemoveStaleTemps(*tree_, {"d/" + t1}), 1u);
  EXPECT_FALSE(fs::exists(dst_ / "d" / t1));
  EXPECT_EQ(fs::last_write_time(dst_ / "d"), old_time);
}

}  // namespace
}  // namespace ktsync
