// links: ktsync_manifest
#include "manifest/scan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "manifest/stat_ahead.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace ktsync {
namespace {

class ScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ktsync-scan-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& m : mounts_) ::umount2(m.c_str(), MNT_DETACH);
    // rm copes with trees deeper than PATH_MAX (std::filesystem::remove_all does not).
    EXPECT_EQ(std::system(("rm -rf '" + root_ + "'").c_str()), 0);
  }

  std::string P(const std::string& rel) const { return root_ + "/" + rel; }
  void Dir(const std::string& rel) { ASSERT_EQ(::mkdir(P(rel).c_str(), 0755), 0) << rel; }
  void File(const std::string& rel, const std::string& data = "", mode_t mode = 0644) {
    UniqueFd fd(::open(P(rel).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    ASSERT_TRUE(fd.valid()) << rel;
    ASSERT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void Link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), P(rel).c_str()), 0) << rel;
  }

  ScanResult Scan(const ScanOptions& opts = {}) {
    UniqueFd fd(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid());
    return ScanTree(fd.get(), opts, problems_, root_);
  }

  static std::vector<std::string> Paths(const ScanResult& r) {
    std::vector<std::string> out;
    for (const Entry& e : r.entries) out.push_back(e.path);
    return out;
  }
  static const Entry* Find(const ScanResult& r, const std::string& path) {
    for (const Entry& e : r.entries)
      if (e.path == path) return &e;
    return nullptr;
  }

  // Nests `depth` directories named "d" under `rel`, by fd: deeper than PATH_MAX allows.
  void Nest(const std::string& rel, int depth) {
    UniqueFd fd(::open(P(rel).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (int i = 0; i < depth; ++i) {
      ASSERT_EQ(::mkdirat(fd.get(), "d", 0755), 0);
      fd.reset(::openat(fd.get(), "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      ASSERT_TRUE(fd.valid());
    }
  }

  // A new directory `rel` with a small tmpfs mounted on it (unmounted in TearDown); false
  // when this process may not mount.
  bool MountTmpfs(const std::string& rel) {
    Dir(rel);
    if (::mount("none", P(rel).c_str(), "tmpfs", 0, "size=1m") != 0) return false;
    mounts_.push_back(P(rel));
    return true;
  }

  std::string root_;
  std::vector<std::string> mounts_;
  Problems problems_;
};

TEST_F(ScanTest, ListsRootFirstThenPathOrder) {
  Dir("a");
  File("a/b");
  Dir("a/c");
  File("a/c/d");
  File("a.b");
  File("a b");
  File("a\nb");
  File("\xff\xfe");
  File("B");
  File("a/c.e");
  ScanResult r = Scan();
  std::vector<std::string> want = {"",    "B",   "a",     "a/b", "a/c",     "a/c/d",
                                   "a/c.e", "a\nb", "a b", "a.b", "\xff\xfe"};
  EXPECT_EQ(Paths(r), want);
  EXPECT_TRUE(r.entries[0].IsDir());
  EXPECT_TRUE(std::is_sorted(r.entries.begin(), r.entries.end(),
                             [](const Entry& x, const Entry& y) { return PathLess(x.path, y.path); }));
  EXPECT_FALSE(problems_.HasErrors());
}

TEST_F(ScanTest, RecordsMetadataWithoutHashing) {
  File("f", "hello", 0640);
  ASSERT_EQ(::chmod(P("f").c_str(), 04751), 0);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), times, 0), 0);
  struct stat st;
  ASSERT_EQ(::lstat(P("f").c_str(), &st), 0);

  ScanResult r = Scan();
  const Entry* e = Find(r, "f");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->type, EntryType::File);
  EXPECT_EQ(e->size, 5u);
  EXPECT_EQ(e->mode, 04751u);
  EXPECT_EQ(e->mtime, (Timestamp{1234567890, 987654321}));
  EXPECT_EQ(e->uid, st.st_uid);
  EXPECT_EQ(e->gid, st.st_gid);
  EXPECT_EQ(e->dev, st.st_dev);
  EXPECT_EQ(e->ino, st.st_ino);
  EXPECT_EQ(e->nlink, 1u);
  EXPECT_EQ(e->ctime_ns, st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec);
  EXPECT_FALSE(e->hash.has_value());
  EXPECT_EQ(e->link_leader, -1);
}

TEST_F(ScanTest, RecordsSymlinksWithoutFollowingThem) {
  Dir("real");
  File("real/inside");
  Link("real", "dirlink");
  Link("/etc", "abs");
  Link("no/such/target", "dangling");
  Link("odd\ntarget\xff", "odd");
  ScanResult r = Scan();
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "abs", "dangling", "dirlink", "odd", "real",
                                                "real/inside"}));
  EXPECT_EQ(Find(r, "abs")->link_target(), "/etc");
  EXPECT_EQ(Find(r, "dangling")->link_target(), "no/such/target");
  EXPECT_EQ(Find(r, "dirlink")->type, EntryType::Symlink);
  EXPECT_EQ(Find(r, "dirlink")->link_target(), "real");
  EXPECT_EQ(Find(r, "odd")->link_target(), "odd\ntarget\xff");
  EXPECT_EQ(Find(r, "odd")->size, 0u);
  EXPECT_FALSE(problems_.HasErrors());
}

TEST_F(ScanTest, FollowLinksListsReferentsAndWalksLinkedDirectories) {
  Dir("real");
  File("real/inside", "abc", 0600);
  File("real/shared", "s");
  ASSERT_EQ(::link(P("real/shared").c_str(), P("real/shared2").c_str()), 0);
  Link("real", "dirlink");
  Link("inside", "real/flink");
  Link("real/flink", "chain");
  Link(P("real/shared"), "abs");
  ScanOptions opts;
  opts.follow_links = true;
  opts.hard_links = true;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "abs", "chain", "dirlink", "dirlink/flink", "dirlink/inside",
                                                "dirlink/shared", "dirlink/shared2", "real", "real/flink",
                                                "real/inside", "real/shared", "real/shared2"}));
  struct stat inside;
  ASSERT_EQ(::stat(P("real/inside").c_str(), &inside), 0);
  for (const char* p : {"chain", "dirlink/flink", "dirlink/inside", "real/flink"}) {
    const Entry* e = Find(r, p);
    ASSERT_NE(e, nullptr) << p;
    EXPECT_EQ(e->type, EntryType::File) << p;
    EXPECT_EQ(e->size, 3u) << p;
    EXPECT_EQ(e->mode, 0600u) << p;
    EXPECT_EQ(e->ino, inside.st_ino) << p;
    EXPECT_EQ(e->link_leader, -1) << p;  // one link (nlink 1): not a hard link, as in rsync -L -H
  }
  EXPECT_EQ(Find(r, "dirlink")->type, EntryType::Dir);
  // The referent's dev/ino: every path to "shared" is one hard-link group, led by "abs".
  for (const char* p : {"dirlink/shared", "dirlink/shared2", "real/shared", "real/shared2"})
    EXPECT_EQ(Find(r, p)->link_leader, 1) << p;
  EXPECT_EQ(Find(r, "abs")->nlink, kLinksUnbounded);  // five names, two links
  EXPECT_FALSE(problems_.HasErrors());
}

// Rules see a followed link as its referent: "build/" matches a link to a directory.
TEST_F(ScanTest, FollowLinksMatchesRulesAgainstTheReferent) {
  Dir("real");
  File("real/f");
  Link("real", "build");
  Link("real/f", "out");
  Filter f({ExcludeRule("build/"), ExcludeRule("real/")});
  ScanOptions opts;
  opts.filter = &f;
  opts.follow_links = true;
  EXPECT_EQ(Paths(Scan(opts)), (std::vector<std::string>{"", "out"}));
  Filter dirs_only({IncludeRule("*/"), ExcludeRule("*")});
  opts.filter = &dirs_only;
  EXPECT_EQ(Paths(Scan(opts)), (std::vector<std::string>{"", "build", "real"}));
}

TEST_F(ScanTest, FollowLinksReportsDanglingLinksAndLoops) {
  Dir("d");
  Dir("d/sub");
  File("d/sub/f");
  Link("..", "d/sub/up");   // d again, below itself
  Link(".", "self");        // the root again
  Link("nowhere", "dangling");
  Link("loop2", "loop1");
  Link("loop1", "loop2");
  ScanOptions opts;
  opts.follow_links = true;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/sub", "d/sub/f"}));
  std::string all;
  for (const Problem& p : problems_.Snapshot()) all += p.message + "\n";
  EXPECT_EQ(problems_.Snapshot().size(), 5u) << all;
  for (const char* want : {"symlink has no referent: \"dangling\"\n", "skipping d/sub/up: it leads back to \"d\"",
                           "skipping self: it leads back to the root of the tree", "follow symlink loop1",
                           "follow symlink loop2"})
    EXPECT_NE(all.find(want), std::string::npos) << want << " in:\n" << all;
  EXPECT_EQ(problems_.ExitCodeFor(), ExitCode::Partial);
}

// As in rsync, a link that cannot be followed is no failure when nothing would take it: the
// filter excludes it as a file and as a directory, or the file list does not lead to it.
TEST_F(ScanTest, FollowLinksIgnoresDeadLinksNothingTakes) {
  Dir("d");
  File("d/f");
  Link("nowhere", "x.lock");       // excluded by the filter
  Link("nowhere", "d/stale");      // not on the list
  Link("loop2", "d/loop1");        // not on the list
  Link("loop1", "d/loop2");
  Link("nowhere", "kept");         // neither: reported
  // The problems a scan adds to problems_.
  size_t seen = 0;
  auto fresh = [&] {
    std::vector<Problem> all = problems_.Snapshot();
    std::vector<Problem> out(all.begin() + static_cast<std::ptrdiff_t>(seen), all.end());
    seen = all.size();
    return out;
  };
  Filter f({ExcludeRule("*.lock")});
  ScanOptions opts;
  opts.follow_links = true;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/f"}));
  std::vector<Problem> got = fresh();
  EXPECT_EQ(got.size(), 4u);  // d/loop1, d/loop2, d/stale, kept: x.lock is excluded
  for (const Problem& p : got) EXPECT_NE(p.path, "x.lock");

  // Only a rule matching both types excludes what is unknown: "*.lock/" leaves a file.
  Filter dirs({ExcludeRule("*.lock/")});
  opts.filter = &dirs;
  Scan(opts);
  got = fresh();
  EXPECT_TRUE(std::any_of(got.begin(), got.end(), [](const Problem& p) { return p.path == "x.lock"; }));

  // With a list: links it does not lead to are not followed at all; one it names is.
  FileList list(ParseFileList("d/f\nx.lock\n", false, "list"), /*recursive=*/false);
  opts.filter = nullptr;
  opts.file_list = &list;
  r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/f"}));
  got = fresh();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "x.lock");
  EXPECT_NE(got[0].message.find("symlink has no referent"), std::string::npos) << got[0].message;

  // Listed and excluded: left out silently, not "listed but missing" either.
  opts.filter = &f;
  r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/f"}));
  got = fresh();
  EXPECT_TRUE(got.empty()) << got[0].message;
}

TEST(LoopAncestor, FindsTheDirectoryOnTheWalkPath) {
  std::vector<InodeId> path = {{1, 2}, {1, 5}, {2, 5}};
  EXPECT_EQ(LoopAncestor(path, {1, 2}), 0u);
  EXPECT_EQ(LoopAncestor(path, {2, 5}), 2u);
  EXPECT_EQ(LoopAncestor(path, {1, 5}), 1u);
  EXPECT_EQ(LoopAncestor(path, {2, 2}), std::nullopt);  // same inode number, other device
  EXPECT_EQ(LoopAncestor(path, {3, 9}), std::nullopt);
  EXPECT_EQ(LoopAncestor({}, {1, 2}), std::nullopt);
}

TEST_F(ScanTest, LaterHardLinksPointToFirstInPathOrder) {
  File("m", "x");
  Dir("d");
  ASSERT_EQ(::link(P("m").c_str(), P("d/z").c_str()), 0);
  ASSERT_EQ(::link(P("m").c_str(), P("z").c_str()), 0);
  File("solo");
  ScanOptions opts;
  opts.hard_links = true;
  ScanResult r = Scan(opts);
  ASSERT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/z", "m", "solo", "z"}));
  EXPECT_EQ(r.entries[2].link_leader, -1);  // d/z comes first in path order
  EXPECT_EQ(r.entries[3].link_leader, 2);
  EXPECT_EQ(r.entries[5].link_leader, 2);
  EXPECT_EQ(r.entries[4].link_leader, -1);
  EXPECT_EQ(r.entries[3].nlink, 3u);

  ScanResult plain = Scan();
  for (const Entry& e : plain.entries) EXPECT_EQ(e.link_leader, -1) << e.path;
}

TEST_F(ScanTest, ExcludedDirectoryIsNotDescended) {
  Dir("build");
  File("build/out.o");
  Dir("src");
  File("src/build");  // a file: "build/" does not match it
  File("src/a.o");
  File("src/a.c");
  Filter f({ExcludeRule("build/"), ExcludeRule("*.o")});
  ScanOptions opts;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "src", "src/a.c", "src/build"}));
}

// --files-from (file_list.h): only what the list picks, parents partial, a listed
// directory alone unless -r, a listed path the tree lacks reported.
TEST_F(ScanTest, FileListPicksListedEntriesAndTheirParents) {
  Dir("a");
  Dir("a/b");
  File("a/b/f");
  File("a/g");
  Dir("c");
  File("c/h");
  Dir("d");
  File("d/i");
  File("top");
  FileList list(ParseFileList("a/b/f\nc\nd/\ntop\nnope\n", false, "list"), /*recursive=*/false);
  ScanOptions opts;
  opts.file_list = &list;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "a", "a/b", "a/b/f", "c", "d", "d/i", "top"}));
  EXPECT_TRUE(r.entries[0].contents_partial);
  EXPECT_TRUE(Find(r, "a")->contents_partial);
  EXPECT_TRUE(Find(r, "a/b")->contents_partial);
  EXPECT_TRUE(Find(r, "c")->contents_skipped);
  EXPECT_FALSE(Find(r, "c")->contents_partial);
  EXPECT_FALSE(Find(r, "d")->contents_partial || Find(r, "d")->contents_skipped);
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].path, "nope");
  EXPECT_TRUE(problems_.HasErrors());
}

TEST_F(ScanTest, FileListRecursiveTakesListedDirectoriesWhole) {
  Dir("c");
  Dir("c/s");
  File("c/s/x");
  File("other");
  FileList list(ParseFileList("c\n", false, "list"), /*recursive=*/true);
  ScanOptions opts;
  opts.file_list = &list;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "c", "c/s", "c/s/x"}));
  EXPECT_FALSE(Find(r, "c")->contents_partial || Find(r, "c")->contents_skipped);
  EXPECT_FALSE(problems_.HasErrors());
}

TEST_F(ScanTest, IncludeRulesSelectSubtree) {
  Dir("keep");
  Dir("keep/sub");
  File("keep/sub/x");
  Dir("drop");
  File("drop/y");
  File("top");
  Filter f({IncludeRule("/keep/***"), ExcludeRule("*")});
  ScanOptions opts;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "keep", "keep/sub", "keep/sub/x"}));
}

TEST_F(ScanTest, DirMergeFilesApplyBeneathTheirDirectory) {
  File(".rules", "- *.tmp\n");
  Dir("a");
  File("a/.rules", "+ keep.tmp\n");
  File("a/keep.tmp");
  File("a/x.tmp");
  File("b.tmp");
  Dir("c");
  File("c/keep.tmp");
  Filter f({{RuleKind::DirMerge, 0, ".rules"}});
  ScanOptions opts;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", ".rules", "a", "a/.rules", "a/keep.tmp", "c"}));
}

TEST_F(ScanTest, UnreadableDirMergeFileHidesItsDirectory) {
  Dir("a");
  File("a/.rules", "Z not a rule\n");
  File("a/secret");
  File("b");
  Filter f({{RuleKind::DirMerge, 0, ".rules"}});
  ScanOptions opts;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "a", "b"}));
  EXPECT_TRUE(r.entries[1].contents_skipped);  // what DST holds beneath it is left alone
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_NE(problems_.Snapshot()[0].message.find("a/.rules line 1"), std::string::npos);
}

TEST_F(ScanTest, ReceiverMarksWhatRulesProtect) {
  File("db");
  File("x.o");
  File("x.tmp");
  File("c.bak");
  Filter f({{RuleKind::Exclude, kRuleReceiver, "db"},
            ExcludeRule("*.o"),
            {RuleKind::Exclude, kRulePerishable, "*.tmp"},
            {RuleKind::Exclude, kRuleSender, "*.bak"}});
  ScanOptions opts;
  opts.filter = &f;
  opts.filter_side = kRuleReceiver;
  ScanResult r = Scan(opts);
  // x.o is excluded on both sides: only named, not counted. c.bak is only hidden: listed,
  // so deleted.
  ASSERT_EQ(Paths(r), (std::vector<std::string>{"", "c.bak", "db", "x.o", "x.tmp"}));
  EXPECT_EQ(r.entries[1].protection, Entry::Protection::None);
  EXPECT_EQ(r.entries[2].protection, Entry::Protection::Always);
  EXPECT_EQ(r.entries[3].protection, Entry::Protection::Hidden);
  EXPECT_EQ(r.entries[4].protection, Entry::Protection::UnlessParentDeleted);
  EXPECT_EQ(r.summary.entries, 4u);
}

// A hard-link leader's ordinal is its place in what the sink receives, Hidden markers
// before it included (the summary does not count them).
TEST_F(ScanTest, LeaderOrdinalsCountHiddenMarkers) {
  File("a.o");
  File("b", "x");
  ASSERT_EQ(::link(P("b").c_str(), P("c").c_str()), 0);
  Filter f({ExcludeRule("*.o")});
  ScanOptions opts;
  opts.filter = &f;
  opts.filter_side = kRuleReceiver;
  opts.hard_links = true;
  ScanResult r = Scan(opts);
  ASSERT_EQ(Paths(r), (std::vector<std::string>{"", "a.o", "b", "c"}));
  EXPECT_EQ(r.entries[1].protection, Entry::Protection::Hidden);
  EXPECT_EQ(r.entries[3].link_leader, 2);
  EXPECT_EQ(r.summary.entries, 3u);
}

TEST_F(ScanTest, TempEntriesAreCollectedNotListed) {
  File(".ktsync-tmp.123");
  Dir("d");
  File("d/.ktsync-tmp.abc", "partial");
  File("d/.ktsync-tmpX");  // not the prefix
  ScanOptions opts;
  opts.collect_temps = true;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d", "d/.ktsync-tmpX"}));
  EXPECT_EQ(r.summary.stale_temps, (std::vector<std::string>{".ktsync-tmp.123", "d/.ktsync-tmp.abc"}));

  ScanResult quiet = Scan();
  EXPECT_TRUE(quiet.summary.stale_temps.empty());
  EXPECT_EQ(quiet.entries.size(), 3u);
}

TEST_F(ScanTest, SkipInodesHidesStateDirectory) {
  Dir(".ktsync");
  File(".ktsync/state.db");
  File("data");
  struct stat st;
  ASSERT_EQ(::stat(P(".ktsync").c_str(), &st), 0);
  ScanOptions opts;
  opts.skip_inodes.push_back({st.st_dev, st.st_ino});
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "data"}));
}

TEST_F(ScanTest, CancelledScanStopsAtTheNextEntry) {
  Dir("a");
  File("a/b");
  File("c");
  std::atomic<bool> cancel{true};
  ScanOptions opts;
  opts.cancel = &cancel;
  EXPECT_EQ(Paths(Scan(opts)), std::vector<std::string>{""});
  cancel = false;
  EXPECT_EQ(Paths(Scan(opts)), (std::vector<std::string>{"", "a", "a/b", "c"}));
}

// The warmer only reads: a scan with it lists exactly what a scan without it does, through
// excluded directories, symlinks to directories, a nest deeper than it descends.
TEST_F(ScanTest, StatAheadChangesNothingInTheResult) {
  for (int d = 0; d < 20; ++d) {
    std::string dir = "d" + std::to_string(d);
    Dir(dir);
    for (int f = 0; f < 40; ++f) File(dir + "/f" + std::to_string(f), "x");
    Dir(dir + "/sub");
    File(dir + "/sub/g");
  }
  Dir("skip");
  File("skip/h");
  Link("d3", "link-to-dir");
  Link("/", "link-to-root");
  Dir("deep");
  Nest("deep", StatAhead::kMaxDepth + 10);
  Filter filter({ExcludeRule("skip")});
  ScanOptions plain;
  plain.filter = &filter;
  ScanOptions ahead = plain;
  ahead.stat_ahead = true;
  ScanResult want = Scan(plain);
  EXPECT_EQ(Paths(Scan(ahead)), Paths(want));
  EXPECT_EQ(Find(want, "skip"), nullptr);
  EXPECT_EQ(problems_.Snapshot().size(), 0u);
}

TEST_F(ScanTest, RecordsSpecialFiles) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::string sp = P("sock");
  ASSERT_LT(sp.size(), sizeof(addr.sun_path));
  std::copy(sp.begin(), sp.end(), addr.sun_path);
  ASSERT_EQ(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  bool have_dev = ::mknod(P("null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;

  ScanResult r = Scan();
  EXPECT_EQ(Find(r, "fifo")->type, EntryType::Fifo);
  EXPECT_EQ(Find(r, "sock")->type, EntryType::Socket);
  if (have_dev) {
    EXPECT_EQ(Find(r, "null")->type, EntryType::CharDev);
    EXPECT_EQ(Find(r, "null")->rdev(), makedev(1, 3));
  }
  EXPECT_EQ(Find(r, "fifo")->rdev(), 0u);
}

TEST_F(ScanTest, CountsDirsFilesAndBytes) {
  Dir("d");
  File("d/a", "1234");
  File("b", "56");
  Link("b", "l");
  ScanResult r = Scan();
  EXPECT_EQ(r.summary.dirs, 2u);  // the root and d
  EXPECT_EQ(r.summary.files, 2u);
  EXPECT_EQ(r.summary.bytes, 6u);
}

TEST_F(ScanTest, LeavesCallerFdUntouched) {
  File("a");
  File("b");
  UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  off_t before = ::lseek(fd.get(), 0, SEEK_CUR);
  ScanResult r = ScanTree(fd.get(), {}, problems_);
  EXPECT_EQ(r.entries.size(), 3u);
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), before);
}

TEST_F(ScanTest, UnreadableDirectoryIsListedAndReportedAsFailure) {
  // Root bypasses permission bits, so the scan runs in a child that drops to nobody.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  Dir("locked");
  File("locked/secret");
  ASSERT_EQ(::chmod(P("locked").c_str(), 0), 0);
  File("open");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::getuid() == 0 && (::setresgid(65534, 65534, 65534) != 0 ||
                            ::setresuid(65534, 65534, 65534) != 0))
      ::_exit(10);
    Problems problems;
    UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ScanResult r = ScanTree(fd.get(), {}, problems);
    std::vector<Problem> got = problems.Snapshot();
    if (Paths(r) != std::vector<std::string>{"", "locked", "open"}) ::_exit(11);
    if (got.size() != 1 || got[0].kind != ProblemKind::Failed || got[0].path != "locked") ::_exit(12);
    if (got[0].message.find("Permission denied") == std::string::npos) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ScanTest, UnreadableRootThrowsSelectFiles) {
  Dir("gone");
  UniqueFd fd(::open(P("gone").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::rmdir(P("gone").c_str()), 0);  // getdents on a removed directory fails
  try {
    ScanTree(fd.get(), {}, problems_, "gone");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::SelectFiles);
    EXPECT_NE(std::string(e.what()).find("gone"), std::string::npos) << e.what();
  }
}

TEST_F(ScanTest, OneFileSystemListsMountPointButNotItsContents) {
  if (!MountTmpfs("mnt")) GTEST_SKIP() << "cannot mount tmpfs here";
  File("mnt/inner");
  File("z");
  ScanOptions opts;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "mnt", "z"}));
  opts.one_file_system = false;
  ScanResult all = Scan(opts);
  EXPECT_EQ(Paths(all), (std::vector<std::string>{"", "mnt", "mnt/inner", "z"}));
}

// --files-from with -x: a listed path beneath a mount point is left out with the mount
// point's contents (the -x warning names it), not reported missing.
TEST_F(ScanTest, FileListPathsBeneathAMountPointAreNotMissing) {
  if (!MountTmpfs("mnt")) GTEST_SKIP() << "cannot mount tmpfs here";
  Dir("mnt/sub");
  File("mnt/sub/f");
  File("z");
  FileList list(ParseFileList("mnt/sub/f\nmnt/gone\nz\n", false, "list"), /*recursive=*/false);
  ScanOptions opts;
  opts.file_list = &list;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "mnt", "z"}));
  EXPECT_TRUE(Find(r, "mnt")->contents_skipped);
  EXPECT_EQ(r.summary.mounts_skipped, 1u);
  EXPECT_TRUE(problems_.Snapshot().empty()) << problems_.Snapshot()[0].message;
  opts.one_file_system = false;
  r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "mnt", "mnt/sub", "mnt/sub/f", "z"}));
  ASSERT_EQ(problems_.Snapshot().size(), 1u);  // crossing it, the walk looks: mnt/gone is missing
  EXPECT_EQ(problems_.Snapshot()[0].path, "mnt/gone");
}

// The same without a mount: a directory whose rule file is bad is listed without its
// contents, and that failure, not "No such file", is what names the listed paths beneath it.
TEST_F(ScanTest, FileListPathsBeneathADirectoryWithABadRuleFileAreNotMissing) {
  Dir("d");
  File("d/f");
  File("d/.rules", "Z not a rule\n");
  FileList list(ParseFileList("d/f\n", false, "list"), /*recursive=*/false);
  Filter f({{RuleKind::DirMerge, 0, ".rules"}});
  ScanOptions opts;
  opts.file_list = &list;
  opts.filter = &f;
  ScanResult r = Scan(opts);
  EXPECT_EQ(Paths(r), (std::vector<std::string>{"", "d"}));
  ASSERT_EQ(problems_.Snapshot().size(), 1u);
  EXPECT_EQ(problems_.Snapshot()[0].path, "d");
  EXPECT_NE(problems_.Snapshot()[0].message.find("not listing the contents of d"), std::string::npos);
}

TEST_F(ScanTest, DeepNestingNeedsNoDeepCallStack) {
  Nest("", 3000);  // 6000-byte paths: only fd-relative walking reaches the bottom
  struct Args {
    int fd;
    ScanResult result;
    Problems problems;
  } args{::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), {}, {}};
  UniqueFd owner(args.fd);
  pthread_attr_t attr;
  ASSERT_EQ(::pthread_attr_init(&attr), 0);
  ASSERT_EQ(::pthread_attr_setstacksize(&attr, 256 * 1024), 0);  // far less than 3000 frames
  pthread_t thread;
  auto run = [](void* p) -> void* {
    auto* a = static_cast<Args*>(p);
    a->result = ScanTree(a->fd, {}, a->problems);
    return nullptr;
  };
  ASSERT_EQ(::pthread_create(&thread, &attr, run, &args), 0);
  ASSERT_EQ(::pthread_join(thread, nullptr), 0);
  ::pthread_attr_destroy(&attr);
  ASSERT_EQ(args.result.entries.size(), 3001u);
  EXPECT_EQ(PathDepth(args.result.entries.back().path), 3000);
  EXPECT_FALSE(args.problems.HasErrors());
}

TEST_F(ScanTest, RunningOutOfFdsIsReportedNotThrown) {
  Nest("", 100);
  File("z");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    struct rlimit lim = {40, 40};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(10);
    Problems problems;
    UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ScanResult r = ScanTree(fd.get(), {}, problems);
    std::vector<Problem> got = problems.Snapshot();
    if (got.size() != 1 || got[0].kind != ProblemKind::Failed) ::_exit(11);
    if (got[0].message.find("Too many open files") == std::string::npos) ::_exit(12);
    // The directory that could not be opened is still listed, and so is everything after it.
    if (r.entries.back().path != "z" || r.entries.size() < 20) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(ScanTest, LargeDirectoryStaysSorted) {
  for (int i = 0; i < 3000; ++i) File("f" + std::to_string(i * 7919 % 3001));
  ScanResult r = Scan();
  ASSERT_EQ(r.entries.size(), 3001u);
  EXPECT_TRUE(std::is_sorted(r.entries.begin(), r.entries.end(),
                             [](const Entry& x, const Entry& y) { return PathLess(x.path, y.path); }));
}

TEST(SkippedMountsWarning, NamesTheFirstThreeAndCountsTheRest) {
  ScanSummary s;
  EXPECT_EQ("", SkippedMountsWarning(s, "SRC"));
  s.mounts_skipped = 1;
  s.first_mounts_skipped = {"home"};
  EXPECT_EQ("SRC has 1 mount point whose contents were not mirrored (-x, the default): home; "
            "--cross-filesystems mirrors them",
            SkippedMountsWarning(s, "SRC"));
  s.mounts_skipped = 5;
  s.first_mounts_skipped = {"a", "b/c", "d"};
  EXPECT_EQ("SRC has 5 mount points whose contents were not mirrored (-x, the default): a, b/c, d and 2 more; "
            "--cross-filesystems mirrors them",
            SkippedMountsWarning(s, "SRC"));
}

}  // namespace
}  // namespace ktsync
