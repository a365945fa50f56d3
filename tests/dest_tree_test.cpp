// links: ktsync_apply
#include "apply/dest_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "apply/pending_file.h"
#include "apply/temp_name.h"
#include "util/error.h"
#include "util/hash.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMtime = 1'600'000'000'123'456'789;  // nanoseconds matter

Entry Make(std::string path, EntryType type, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  e.mtime = Timestamp::FromNs(kMtime);
  return e;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const fs::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

std::set<std::string> Names(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& de : fs::directory_iterator(dir)) out.insert(de.path().filename().string());
  return out;
}

struct stat Lstat(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(lstat(p.c_str(), &st), 0) << p;
  return st;
}

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
}

int CountTemps(const fs::path& dir) {
  int n = 0;
  for (const auto& de : fs::directory_iterator(dir))
    if (IsTempName(de.path().filename().string())) ++n;
  return n;
}

class DestTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dst_ = base_ / "dst";
    canary_ = base_ / "canary";
    fs::create_directories(dst_);
    fs::create_directories(canary_);
    WriteAll(canary_ / "keep", "canary");
    chmod((canary_ / "keep").c_str(), 0640);
    canary_dir_ = Lstat(canary_);
    tree_ = std::make_unique<DestTree>(DestTree::Open(dst_.string()));
  }

  void Commit(const std::string& rel, const std::string& data, uint32_t mode = 0644) {
    Entry e = Make(rel, EntryType::File, mode);
    PendingFile f = tree_->CreateFile(e);
    f.Write(data.data(), data.size());
    Hash128 h = HashBytes(data.data(), data.size());
    f.Commit(h, h, e, MetaOptions{}, /*fsync=*/false);
  }

  void ExpectCanaryUntouched() {
    EXPECT_EQ(Names(canary_), std::set<std::string>{"keep"});
    EXPECT_EQ(ReadAll(canary_ / "keep"), "canary");
    EXPECT_EQ(Lstat(canary_ / "keep").st_mode & 07777, 0640u);
    struct stat now = Lstat(canary_);
    EXPECT_EQ(now.st_mode, canary_dir_.st_mode);
    EXPECT_EQ(MtimeNs(now), MtimeNs(canary_dir_));
  }

  TempDir base_{"ktsync-dest-tree"};
  fs::path dst_, canary_;
  struct stat canary_dir_{};
  std::unique_ptr<DestTree> tree_;
};

// Runs each test with unnamed files (O_TMPFILE, the default) and with named temps
// (KTSYNC_TMPFILE=0, the fallback where O_TMPFILE cannot be used).
class PendingFileTest : public DestTreeTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    if (const char* v = getenv("KTSYNC_TMPFILE")) saved_ = v;  // CI sets it for a whole pass
    if (Unnamed())
      unsetenv("KTSYNC_TMPFILE");
    else
      setenv("KTSYNC_TMPFILE", "0", 1);
    DestTreeTest::SetUp();
  }
  void TearDown() override {
    if (saved_)
      setenv("KTSYNC_TMPFILE", saved_->c_str(), 1);
    else
      unsetenv("KTSYNC_TMPFILE");
    DestTreeTest::TearDown();
  }
  bool Unnamed() const { return GetParam(); }
  int TempsWhilePending() const { return Unnamed() ? 0 : 1; }

 private:
  std::optional<std::string> saved_;
};

INSTANTIATE_TEST_SUITE_P(Both, PendingFileTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Unnamed" : "NamedTemp"; });

TEST_P(PendingFileTest, InvisibleUnderFinalNameUntilCommit) {
  Entry e = Make("a.txt", EntryType::File, 0640);
  PendingFile f = tree_->CreateFile(e);
  f.Write("hello", 5);
  EXPECT_FALSE(fs::exists(dst_ / "a.txt"));
  ASSERT_EQ(CountTemps(dst_), TempsWhilePending());
  EXPECT_EQ(std::distance(fs::directory_iterator(dst_), fs::directory_iterator()), TempsWhilePending())
      << "nothing but the temp (if named) is in the directory";
  struct stat pending;
  ASSERT_EQ(fstat(f.fd(), &pending), 0);
  // A visible temp is private; no one can open an unnamed file, so it has its final bits.
  EXPECT_EQ(pending.st_mode & 07777, Unnamed() ? 0640u : 0600u);

  Hash128 h = HashBytes("hello", 5);
  FinalInfo info = f.Commit(h, h, e, MetaOptions{}, /*fsync=*/true);
  EXPECT_EQ(ReadAll(dst_ / "a.txt"), "hello");
  EXPECT_EQ(CountTemps(dst_), 0);
  struct stat st = Lstat(dst_ / "a.txt");
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(MtimeNs(st), kMtime);
  EXPECT_EQ(info.ino, st.st_ino);
  EXPECT_EQ(info.dev, st.st_dev);
  EXPECT_EQ(info.size, 5u);
  EXPECT_EQ(info.mtime_ns, kMtime);
  EXPECT_EQ(info.ctime_ns, int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec);
}

TEST_P(PendingFileTest, CommitReplacesExistingFileWhichStaysIntactUntilThen) {
  WriteAll(dst_ / "a", "old");
  Entry e = Make("a", EntryType::File);
  PendingFile f = tree_->CreateFile(e);
  f.Write("new!", 4);
  EXPECT_EQ(ReadAll(dst_ / "a"), "old");
  Hash128 h = HashBytes("new!", 4);
  f.Commit(h, h, e, MetaOptions{}, false);
  EXPECT_EQ(ReadAll(dst_ / "a"), "new!");
  EXPECT_EQ(CountTemps(dst_), 0);
}

TEST_P(PendingFileTest, CommitReplacesASymlinkWithoutFollowingIt) {
  fs::create_symlink(canary_ / "keep", dst_ / "a");
  Commit("a", "data");
  EXPECT_FALSE(fs::is_symlink(dst_ / "a"));
  EXPECT_EQ(ReadAll(dst_ / "a"), "data");
  ExpectCanaryUntouched();
}

TEST_P(PendingFileTest, HashMismatchKeepsOldFileAndLeavesNoTemp) {
  WriteAll(dst_ / "a", "old");
  Entry e = Make("a", EntryType::File);
  PendingFile f = tree_->CreateFile(e);
  f.Write("bad", 3);
  try {
    f.Commit(HashBytes("good", 4), HashBytes("bad", 3), e, MetaOptions{}, false);
    FAIL() << "mismatch must throw";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), ExitCode::Partial);
    EXPECT_NE(std::string(err.what()).find("a: content hash mismatch"), std::string::npos);
  }
  EXPECT_EQ(ReadAll(dst_ / "a"), "old");
  EXPECT_EQ(CountTemps(dst_), 0);
  EXPECT_FALSE(f.active());
}

TEST_P(PendingFileTest, AbortAndDestructorRemoveTheTemp) {
  Entry e = Make("a", EntryType::File);
  {
    PendingFile f = tree_->CreateFile(e);
    f.Write("x", 1);
    ASSERT_EQ(CountTemps(dst_), TempsWhilePending());
  }
  EXPECT_EQ(CountTemps(dst_), 0);
  PendingFile g = tree_->CreateFile(e);
  g.Abort();
  EXPECT_EQ(CountTemps(dst_), 0);
  EXPECT_FALSE(fs::exists(dst_ / "a"));
  PendingFile moved = tree_->CreateFile(e);
  PendingFile target = std::move(moved);
  target = tree_->CreateFile(e);  // move-assign over a live temp aborts it
  EXPECT_EQ(CountTemps(dst_), TempsWhilePending());
}

TEST_F(DestTreeTest, MkDirCreatesWritableDirAndDirMetaAppliesReadOnlyModeLast) {
  Entry d = Make("d", EntryType::Dir, 0555);
  tree_->MkDir(d);
  EXPECT_EQ(Lstat(dst_ / "d").st_mode & 07777, 0700u);
  Commit("d/f", "inside");
  tree_->SetMeta(d, MetaOptions{});
  struct stat st = Lstat(dst_ / "d");
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_EQ(MtimeNs(st), kMtime);
  EXPECT_EQ(ReadAll(dst_ / "d/f"), "inside");
}

TEST_F(DestTreeTest, MkDirAcceptsExistingDirButNotAFile) {
  fs::create_directory(dst_ / "d");
  EXPECT_NO_THROW(tree_->MkDir(Make("d", EntryType::Dir)));
  WriteAll(dst_ / "f", "x");
  EXPECT_THROW(tree_->MkDir(Make("f", EntryType::Dir)), SysError);
  EXPECT_NO_THROW(tree_->MkDir(Make("", EntryType::Dir)));
}

TEST_F(DestTreeTest, NewDirWithoutPermsGetsSourceModeMaskedByUmask) {
  Entry d = Make("d", EntryType::Dir, 0777);
  tree_->MkDir(d);
  MetaOptions no_perms;
  no_perms.perms = false;
  tree_->SetMeta(d, no_perms, /*created=*/true);
  EXPECT_EQ(Lstat(dst_ / "d").st_mode & 07777, 0777u & ~ProcessUmask());
}

TEST_F(DestTreeTest, SymlinkReplacesLinkAndFileAtomicallyWithItsOwnMtime) {
  fs::create_symlink("old", dst_ / "l");
  Entry l = Make("l", EntryType::Symlink);
  l.set_link_target("new/target");
  tree_->MakeSymlink(l);
  EXPECT_EQ(fs::read_symlink(dst_ / "l"), "new/target");
  EXPECT_EQ(MtimeNs(Lstat(dst_ / "l")), kMtime);

  WriteAll(dst_ / "f", "file");
  Entry f = Make("f", EntryType::Symlink);
  f.set_link_target("../../anywhere");  // targets are data, never followed
  tree_->MakeSymlink(f);
  EXPECT_EQ(fs::read_symlink(dst_ / "f"), "../../anywhere");
  EXPECT_EQ(CountTemps(dst_), 0);
}

TEST_F(DestTreeTest, SymlinkOverDirectoryFailsAndLeavesNoTemp) {
  fs::create_directory(dst_ / "d");
  Entry l = Make("d", EntryType::Symlink);
  l.set_link_target("x");
  EXPECT_THROW(tree_->MakeSymlink(l), SysError);
  EXPECT_TRUE(fs::is_directory(dst_ / "d"));
  EXPECT_EQ(CountTemps(dst_), 0);
}

TEST_F(DestTreeTest, HardLinkSharesTheLeadersInodeAndIsIdempotent) {
  fs::create_directory(dst_ / "sub");
  Commit("sub/leader", "same");
  WriteAll(dst_ / "h", "stale");
  Entry h = Make("h", EntryType::File);
  tree_->HardLink(h, "sub/leader");
  EXPECT_EQ(Lstat(dst_ / "h").st_ino, Lstat(dst_ / "sub/leader").st_ino);
  EXPECT_EQ(ReadAll(dst_ / "h"), "same");
  tree_->HardLink(h, "sub/leader");  // rename between links of one inode is a no-op
  EXPECT_EQ(CountTemps(dst_), 0);
  EXPECT_EQ(Lstat(dst_ / "h").st_nlink, 2u);
}

TEST_F(DestTreeTest, RemoveUnlinksFilesRmdirsDirsAndToleratesMissing) {
  fs::create_directory(dst_ / "d");
  WriteAll(dst_ / "d/f", "x");
  fs::create_symlink(canary_, dst_ / "l");
  EXPECT_THROW(tree_->Remove(Make("d", EntryType::Dir)), SysError);  // not empty
  tree_->Remove(Make("d/f", EntryType::File));
  tree_->Remove(Make("d", EntryType::Dir));
  tree_->Remove(Make("l", EntryType::Symlink));
  EXPECT_NO_THROW(tree_->Remove(Make("gone", EntryType::File)));
  EXPECT_TRUE(Names(dst_).empty());
  ExpectCanaryUntouched();
  EXPECT_THROW(tree_->Remove(Make("", EntryType::Dir)), Error);
}

TEST_F(DestTreeTest, RemovedDirIsNotServedFromTheParentCache) {
  fs::create_directory(dst_ / "d");
  Commit("d/f", "x");  // caches "d"
  tree_->Remove(Make("d/f", EntryType::File));
  tree_->Remove(Make("d", EntryType::Dir));
  fs::create_directory(dst_ / "d");
  Commit("d/g", "y");
  EXPECT_EQ(ReadAll(dst_ / "d/g"), "y");
}

TEST_F(DestTreeTest, SetMetaAppliesModeNanosecondMtimeAndOwnerOnFiles) {
  WriteAll(dst_ / "f", "x");
  Entry e = Make("f", EntryType::File, 04751);
  MetaOptions m;
  bool root = geteuid() == 0;
  m.owner = m.group = root;
  e.uid = 1234;
  e.gid = 5678;
  tree_->SetMeta(e, m);
  struct stat st = Lstat(dst_ / "f");
  EXPECT_EQ(st.st_mode & 07777, 04751u);  // chmod after chown keeps setuid
  EXPECT_EQ(MtimeNs(st), kMtime);
  if (root) {
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
  }
}

// As non-root these take the O_PATH fallbacks (root passes the permission checks anyway).
TEST_F(DestTreeTest, WritesInsideUnreadableDirsAndFixesMode000Files) {
  fs::create_directory(dst_ / "wx");
  chmod((dst_ / "wx").c_str(), 0311);
  Entry e = Make("wx/f", EntryType::File, 0);
  PendingFile f = tree_->CreateFile(e);
  f.Write("x", 1);
  Hash128 h = HashBytes("x", 1);
  f.Commit(h, h, e, MetaOptions{}, /*fsync=*/true);
  EXPECT_EQ(Lstat(dst_ / "wx/f").st_mode & 07777, 0u);
  tree_->SetMeta(Make("wx/f", EntryType::File, 0640), MetaOptions{});
  struct stat st = Lstat(dst_ / "wx/f");
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(MtimeNs(st), kMtime);
  chmod((dst_ / "wx/f").c_str(), 0);
  tree_->SetMeta(Make("wx", EntryType::Dir, 0), MetaOptions{});
  EXPECT_EQ(Lstat(dst_ / "wx").st_mode & 07777, 0u);
  tree_->SetMeta(Make("wx", EntryType::Dir, 0700), MetaOptions{});
  EXPECT_EQ(Lstat(dst_ / "wx").st_mode & 07777, 0700u);
}

TEST_F(DestTreeTest, SetMetaOnSymlinkChangesTheLinkNotItsTarget) {
  fs::create_symlink(canary_ / "keep", dst_ / "l");
  struct stat target_before = Lstat(canary_ / "keep");
  Entry l = Make("l", EntryType::Symlink);
  MetaOptions m;
  m.owner = m.group = geteuid() == 0;
  l.uid = l.gid = 4321;
  tree_->SetMeta(l, m);
  struct stat st = Lstat(dst_ / "l");
  EXPECT_EQ(MtimeNs(st), kMtime);
  if (m.owner) {
    EXPECT_EQ(st.st_uid, 4321u);
  }
  EXPECT_EQ(MtimeNs(Lstat(canary_ / "keep")), MtimeNs(target_before));
  EXPECT_EQ(Lstat(canary_ / "keep").st_uid, target_before.st_uid);
}

TEST_F(DestTreeTest, SetMetaRefusesAnEntryWhoseTypeChanged) {
  fs::create_directory(dst_ / "x");
  EXPECT_THROW(tree_->SetMeta(Make("x", EntryType::File, 0600), MetaOptions{}), Error);
  EXPECT_NE(Lstat(dst_ / "x").st_mode & 07777, 0600u);
}

TEST_F(DestTreeTest, SetMetaOnRootUsesTheHeldFd) {
  tree_->SetMeta(Make("", EntryType::Dir, 0751), MetaOptions{});
  struct stat st = Lstat(dst_);
  EXPECT_EQ(st.st_mode & 07777, 0751u);
  EXPECT_EQ(MtimeNs(st), kMtime);
}

TEST_F(DestTreeTest, MakeSpecialCreatesFifoWithModeAndReplacesFile) {
  WriteAll(dst_ / "p", "file");
  Entry p = Make("p", EntryType::Fifo, 0620);
  tree_->MakeSpecial(p);
  struct stat st = Lstat(dst_ / "p");
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_EQ(MtimeNs(st), kMtime);
  tree_->SetMeta(Make("p", EntryType::Fifo, 0600), MetaOptions{});  // O_PATH: never blocks
  EXPECT_EQ(Lstat(dst_ / "p").st_mode & 07777, 0600u);
  EXPECT_EQ(CountTemps(dst_), 0);
}

// The attack: after the scan, a directory inside DST is replaced by a symlink to a place the
// attacker wants written (here: the canary). Every operation beneath it must fail.
TEST_F(DestTreeTest, DirSwappedForSymlinkConfinesEveryOperation) {
  fs::create_symlink(canary_, dst_ / "sub");
  Entry f = Make("sub/new", EntryType::File);
  EXPECT_THROW(tree_->CreateFile(f), SysError);
  EXPECT_THROW(tree_->MkDir(Make("sub/d", EntryType::Dir)), SysError);
  EXPECT_THROW(tree_->Remove(Make("sub/keep", EntryType::File)), SysError);
  EXPECT_THROW(tree_->SetMeta(Make("sub/keep", EntryType::File, 0777), MetaOptions{}), SysError);
  Entry l = Make("sub/l", EntryType::Symlink);
  l.set_link_target("x");
  EXPECT_THROW(tree_->MakeSymlink(l), SysError);
  EXPECT_THROW(tree_->MakeSpecial(Make("sub/p", EntryType::Fifo)), SysError);
  WriteAll(dst_ / "a", "a");
  EXPECT_THROW(tree_->HardLink(Make("sub/h", EntryType::File), "a"), SysError);
  EXPECT_THROW(tree_->HardLink(Make("h", EntryType::File), "sub/keep"), SysError);
  // The symlink itself, named as the directory it replaced.
  EXPECT_THROW(tree_->SetMeta(Make("sub", EntryType::Dir, 0777), MetaOptions{}), SysError);
  EXPECT_THROW(tree_->Remove(Make("sub", EntryType::Dir)), SysError);
  try {
    tree_->CreateFile(f);
  } catch (const SysError& e) {
    EXPECT_EQ(e.err(), ELOOP);
    EXPECT_NE(std::string(e.what()).find("sub/new"), std::string::npos) << e.what();
  }
  ExpectCanaryUntouched();
  EXPECT_FALSE(fs::exists(dst_ / "h"));
}

// Makes openat2 fail with ENOSYS in this process, as on a pre-5.6 kernel.
bool HideOpenat2() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

TEST_F(DestTreeTest, WithoutOpenat2TheComponentWalkStillConfines) {
  fs::create_symlink(canary_, dst_ / "sub");
  fs::create_directory(dst_ / "real");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // no gtest macros in the child: report through the exit code
    if (!HideOpenat2()) _exit(10);
    DestTree tree = DestTree::Open(dst_.string());
    try {
      tree.CreateFile(Make("sub/new", EntryType::File));
      _exit(11);
    } catch (const SysError& e) {
      if (e.err() != ELOOP) _exit(12);
    }
    try {
      tree.MkDir(Make("sub/d", EntryType::Dir));
      _exit(13);
    } catch (const SysError&) {
    }
    try {
      tree.MkDir(Make("real/d", EntryType::Dir));
    } catch (const Error&) {
      _exit(14);
    }
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(fs::is_directory(dst_ / "real/d"));
  ExpectCanaryUntouched();
}

TEST_F(DestTreeTest, SwapAfterParentWasCachedStillWritesInsideTheTree) {
  fs::create_directory(dst_ / "sub");
  Commit("sub/one", "1");  // "sub" is now a held fd
  fs::rename(dst_ / "sub", dst_ / "sub.moved");
  fs::create_symlink(canary_, dst_ / "sub");
  Commit("sub/two", "2");
  EXPECT_EQ(ReadAll(dst_ / "sub.moved/two"), "2");
  ExpectCanaryUntouched();
}

TEST_F(DestTreeTest, UnsafePathsAreRefusedBeforeAnySyscall) {
  for (const char* bad : {"../escape", "/tmp/abs", "a/../../x", "a//b", "./a", "a/", ".."}) {
    SCOPED_TRACE(bad);
    Entry f = Make(bad, EntryType::File);
    EXPECT_THROW(tree_->CreateFile(f), Error);
    EXPECT_THROW(tree_->MkDir(Make(bad, EntryType::Dir)), Error);
    EXPECT_THROW(tree_->Remove(f), Error);
    EXPECT_THROW(tree_->SetMeta(f, MetaOptions{}), Error);
    EXPECT_THROW(tree_->HardLink(Make("ok", EntryType::File), bad), Error);
  }
  EXPECT_TRUE(Names(dst_).empty());
  EXPECT_EQ(Names(base_.path()), (std::set<std::string>{"canary", "dst"}));
  EXPECT_THROW(tree_->CreateFile(Make("", EntryType::File)), Error);
}

TEST_F(DestTreeTest, CloneSharesTheRootButNotTheCache) {
  DestTree other = tree_->Clone();
  EXPECT_NE(other.root_fd(), tree_->root_fd());
  other.MkDir(Make("x", EntryType::Dir));
  EXPECT_TRUE(fs::is_directory(dst_ / "x"));
}

}  // namespace
}  // namespace ktsync
