// links: ktsync_store
#include "store/state_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "store/root_lock.h"
#include "util/error.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

// Restores an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DefaultStateDirFrom, UsesAbsoluteXdgStateHome) {
  EXPECT_EQ(DefaultStateDirFrom("/x/state", "/home/u"), "/x/state/ktsync");
}

TEST(DefaultStateDirFrom, FallsBackToHomeWhenXdgUnsetEmptyOrRelative) {
  EXPECT_EQ(DefaultStateDirFrom(nullptr, "/home/u"), "/home/u/.local/state/ktsync");
  EXPECT_EQ(DefaultStateDirFrom("", "/home/u"), "/home/u/.local/state/ktsync");
  EXPECT_EQ(DefaultStateDirFrom("rel/state", "/home/u"), "/home/u/.local/state/ktsync");
}

TEST(DefaultStateDirFrom, IsEmptyWithoutAnyUsableDirectory) {
  EXPECT_EQ(DefaultStateDirFrom(nullptr, nullptr), "");
  EXPECT_EQ(DefaultStateDirFrom("rel", "also-rel"), "");
}

TEST(DefaultStateDir, ReadsTheEnvironment) {
  ScopedEnv xdg("XDG_STATE_HOME", "/somewhere/state");
  EXPECT_EQ(DefaultStateDir(), "/somewhere/state/ktsync");
  ScopedEnv no_xdg("XDG_STATE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(DefaultStateDir(), "/home/someone/.local/state/ktsync");
}

TEST(ResolveStateDir, OverrideWins) {
  ScopedEnv xdg("XDG_STATE_HOME", "/somewhere/state");
  EXPECT_EQ(ResolveStateDir("/my/state"), "/my/state");
  EXPECT_EQ(ResolveStateDir(""), "/somewhere/state/ktsync");
}

TEST(DbPathFor, IsUnderRootsAndNamedBySixteenHexDigits) {
  std::string p = DbPathFor("/s", "/data/tree");
  ASSERT_EQ(p.size(), std::string("/s/roots/").size() + 16 + std::string(".sqlite").size());
  EXPECT_EQ(p.rfind("/s/roots/", 0), 0u);
  EXPECT_EQ(p.substr(p.size() - 7), ".sqlite");
  EXPECT_EQ(p.substr(9, 16).find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(DbPathFor, IsStablePerRootAndDiffersBetweenRoots) {
  EXPECT_EQ(DbPathFor("/s", "/data/tree"), DbPathFor("/s", "/data/tree"));
  EXPECT_NE(DbPathFor("/s", "/data/tree"), DbPathFor("/s", "/data/tree2"));
}

TEST(CanonicalRoot, ResolvesSymlinksAndDotDot) {
  TempDir t{"ktsync-state"};
  std::filesystem::create_directories(t.str() + "/real/sub");
  std::filesystem::create_directory_symlink(t.str() + "/real", t.str() + "/link");
  std::string real = CanonicalRoot(t.str() + "/real");
  EXPECT_EQ(CanonicalRoot(t.str() + "/link"), real);
  EXPECT_EQ(CanonicalRoot(t.str() + "/real/sub/.."), real);
}

TEST(CanonicalRoot, KeepsAPathThatDoesNotExist) {
  EXPECT_EQ(CanonicalRoot("/nonexistent/ktsync/x"), "/nonexistent/ktsync/x");
}

TEST(MakeDirs, CreatesNestedDirectoriesWithMode) {
  TempDir t{"ktsync-state"};
  std::string d = t.str() + "/a/b/c";
  MakeDirs(d, 0700);
  struct stat st{};
  ASSERT_EQ(::stat(d.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0077, 0u);
  MakeDirs(d, 0700);  // existing is fine
}

TEST(MakeDirs, ThrowsNamingThePathWhenAFileIsInTheWay) {
  TempDir t{"ktsync-state"};
  std::ofstream(t.str() + "/file") << "x";
  try {
    MakeDirs(t.str() + "/file/sub", 0700);
    FAIL() << "no throw";
  } catch (const SysError& e) {
    EXPECT_NE(std::string(e.what()).find("/file"), std::string::npos) << e.what();
  }
}

TEST(StateDirId, IsTheDirectoryDevAndInode) {
  TempDir t{"ktsync-state"};
  struct stat st{};
  ASSERT_EQ(::stat(t.path().c_str(), &st), 0);
  std::optional<FileId> id = StateDirId(t.str());
  ASSERT_TRUE(id);
  EXPECT_EQ(id->dev, static_cast<uint64_t>(st.st_dev));
  EXPECT_EQ(id->ino, static_cast<uint64_t>(st.st_ino));
  EXPECT_FALSE(StateDirId(t.str() + "/missing"));
}

// ---- RootLock

struct LockFixture : ::testing::Test {
  TempDir t{"ktsync-state"};
  std::string root = t.str() + "/dst";
  std::string state = t.str() + "/state";
  std::vector<std::string> warnings;
  std::function<void(const std::string&)> warn = [this](const std::string& w) {
    warnings.push_back(w);
  };
  void SetUp() override { std::filesystem::create_directory(root); }
};

TEST_F(LockFixture, FirstAcquireHoldsLockFileNextToTheDb) {
  RootLock lock = RootLock::Acquire(root, state, warn);
  EXPECT_TRUE(lock.held());
  EXPECT_EQ(lock.path(), DbPathFor(state, CanonicalRoot(root)) + ".lock");
  std::ifstream in(lock.path());
  std::string pid;
  in >> pid;
  EXPECT_EQ(pid, std::to_string(::getpid()));
  EXPECT_TRUE(warnings.empty());
}

TEST_F(LockFixture, SecondHolderFailsWithLockedNamingRootLockAndPid) {
  RootLock first = RootLock::Acquire(root, state, warn);
  // flock belongs to the open file description, so a second open() conflicts in-process.
  try {
    RootLock second = RootLock::Acquire(root, state, warn);
    FAIL() << "second lock acquired";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Locked);
    std::string msg = e.what();
    EXPECT_NE(msg.find(CanonicalRoot(root) + ": another ktsync run"), std::string::npos) << msg;
    EXPECT_NE(msg.find(first.path()), std::string::npos) << msg;
    EXPECT_NE(msg.find("pid " + std::to_string(::getpid())), std::string::npos) << msg;
    EXPECT_NE(msg.find("wait for it to finish"), std::string::npos) << msg;
  }
}

TEST_F(LockFixture, SecondProcessIsRefusedWhileHeld) {
  RootLock first = RootLock::Acquire(root, state, warn);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      RootLock::Acquire(root, state, nullptr);
      ::_exit(0);
    } catch (const Error& e) {
      ::_exit(static_cast<int>(e.code()));
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(ExitCode::Locked));
}

TEST_F(LockFixture, ReleasedWhenTheHolderIsDestroyed) {
  { RootLock first = RootLock::Acquire(root, state, warn); }
  RootLock again = RootLock::Acquire(root, state, warn);
  EXPECT_TRUE(again.held());
}

TEST_F(LockFixture, MovedLockStaysHeld) {
  RootLock a = RootLock::Acquire(root, state, warn);
  RootLock b = std::move(a);
  EXPECT_TRUE(b.held());
  EXPECT_THROW(RootLock::Acquire(root, state, warn), Error);
}

TEST_F(LockFixture, UnusableStateDirWarnsAndDoesNotThrow) {
  std::ofstream(t.str() + "/file") << "x";
  RootLock lock = RootLock::Acquire(root, t.str() + "/file/state", warn);
  EXPECT_FALSE(lock.held());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("will not be detected"), std::string::npos) << warnings[0];
}

}  // namespace
}  // namespace ktsync

namespace ktsync {
namespace {

TEST(CanonicalPathOf, ResolvesTheParentOfAMissingPath) {
  TempDir t{"ktsync_canon"};
  std::string dir = t.str();
  ASSERT_EQ(::symlink(dir.c_str(), (dir + "_link").c_str()), 0);
  EXPECT_EQ(CanonicalPathOf(dir + "_link/missing"), dir + "/missing");
  EXPECT_EQ(CanonicalPathOf(dir + "_link/"), dir);
  ::unlink((dir + "_link").c_str());
}

}  // namespace
}  // namespace ktsync
