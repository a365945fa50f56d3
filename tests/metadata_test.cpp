// links: ktsync_apply
#include "apply/metadata.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "temp_dir.h"
#include "util/unique_fd.h"

namespace ktsync {
namespace {

class MetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fd_.reset(::open((dir_ / "f").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd_);
    ASSERT_EQ(::fchmod(fd_.get(), 0644), 0);
  }
  struct stat Stat() const {
    struct stat st{};
    EXPECT_EQ(::fstat(fd_.get(), &st), 0);
    return st;
  }
  Entry Like(const struct stat& st, uint32_t mode) const {
    Entry e;
    e.type = EntryType::File;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mode = mode;
    return e;
  }

  TempDir dir_{"ktsync-metadata"};
  UniqueFd fd_;
};

// Every chown or chmod is an inode update (ctime moves): what is already right is skipped.
TEST_F(MetadataTest, OwnerAndModeTheFileHasAreNotSetAgain) {
  struct stat before = Stat();
  ::usleep(20'000);
  ApplyMetaToFd(fd_.get(), Like(before, 0644), MetaOptions{true, false, true, true}, "f");
  struct stat after = Stat();
  EXPECT_EQ(after.st_ctim.tv_sec, before.st_ctim.tv_sec);
  EXPECT_EQ(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
}

TEST_F(MetadataTest, ModeThatDiffersIsSet) {
  ApplyMetaToFd(fd_.get(), Like(Stat(), 0640), MetaOptions{true, false, true, true}, "f");
  EXPECT_EQ(Stat().st_mode & 07777, 0640u);
}

// A chown clears setuid and setgid: the mode is set again after it, even when it was right.
TEST_F(MetadataTest, SetuidSurvivesAChangeOfOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file away needs root";
  ASSERT_EQ(::fchmod(fd_.get(), 04755), 0);
  Entry e = Like(Stat(), 04755);
  e.uid = 65534;
  ApplyMetaToFd(fd_.get(), e, MetaOptions{true, false, true, true}, "f");
  struct stat st = Stat();
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
}

}  // namespace
}  // namespace ktsync
