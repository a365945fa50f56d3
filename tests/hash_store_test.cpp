// links: ktsync_store
#include "store/hash_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/schema.h"
#include "store/sqlite_db.h"
#include "store/state_dir.h"

#include "temp_dir.h"

namespace ktsync {
namespace {

constexpr int kRw = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

Entry FileEntry(std::string path, uint64_t dev = 1, uint64_t ino = 2, uint64_t size = 3,
                int64_t mtime = 4, int64_t ctime = 5) {
  Entry e;
  e.path = std::move(path);
  e.type = EntryType::File;
  e.dev = dev;
  e.ino = ino;
  e.size = size;
  e.mtime = Timestamp::FromNs(mtime);
  e.ctime_ns = ctime;
  return e;
}

const Hash128 kH1{0x1111, 0xaaaa};
const Hash128 kH2{0x2222, 0xbbbb};

class HashStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directory(root_);
  }

  HashStore OpenStore() { return HashStore::Open(root_, state_, warn_); }
  std::string DbPath() const { return DbPathFor(state_, CanonicalRoot(root_)); }
  void WriteGarbage(const std::string& path, size_t offset = 0, size_t len = 8192) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset));
    std::string junk(len, '\0');
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 131 + 7);
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }

  TempDir scratch_{"ktsync-store"};
  std::string tmp_ = scratch_.str(), root_ = tmp_ + "/root", state_ = tmp_ + "/state";
  std::vector<std::string> warnings_;
  HashStore::WarnFn warn_ = [this](const std::string& w) { warnings_.push_back(w); };
};

TEST_F(HashStoreTest, MissesWhenEmptyThenHitsAfterRecordAndCommit) {
  HashStore s = OpenStore();
  Entry e = FileEntry("a");
  EXPECT_FALSE(s.Lookup(e));
  s.Record(e, kH1);
  s.Commit();
  EXPECT_EQ(s.Lookup(e), kH1);
  EXPECT_EQ(s.stats().misses, 1u);
  EXPECT_EQ(s.stats().hits, 1u);
  EXPECT_EQ(s.stats().recorded, 1u);
  EXPECT_TRUE(warnings_.empty());
}

// The first-mirror guard's record (mirror/deletion_gate.h) outlives the run that wrote it.
TEST_F(HashStoreTest, RemembersACompletedMirrorAcrossOpens) {
  EXPECT_FALSE(OpenStore().MirroredInto("1:2"));
  OpenStore().MarkMirroredInto("1:2");
  EXPECT_TRUE(OpenStore().MirroredInto("1:2"));
  EXPECT_TRUE(warnings_.empty());
}

// A tree made again at the path, or another disk mounted there, is not the one mirrored into.
TEST_F(HashStoreTest, AMirrorRecordHoldsOnlyForTheSameRootDirectory) {
  OpenStore().MarkMirroredInto("1:2");
  EXPECT_FALSE(OpenStore().MirroredInto("1:3"));
  EXPECT_FALSE(OpenStore().MirroredInto("7:2"));
}

// An in-memory cache knows no earlier run: the guard asks again, never skips.
TEST_F(HashStoreTest, InMemoryStoreKnowsNoEarlierMirror) {
  HashStore s = HashStore::InMemory();
  s.MarkMirroredInto("1:2");
  EXPECT_FALSE(s.MirroredInto("1:2"));
}

TEST_F(HashStoreTest, MissesWhenAnyOneKeyFieldChanged) {
  HashStore s = OpenStore();
  Entry base = FileEntry("dir/file", 10, 20, 30, 40, 50);
  s.Record(base, kH1);
  s.Commit();
  const std::vector<std::pair<const char*, std::function<void(Entry&)>>> changes = {
      {"dev", [](Entry& e) { e.dev++; }},        {"ino", [](Entry& e) { e.ino++; }},
      {"size", [](Entry& e) { e.size++; }},      {"mtime", [](Entry& e) { e.mtime.nsec++; }},
      {"ctime", [](Entry& e) { e.ctime_ns++; }},
  };
  for (const auto& [name, change] : changes) {
    Entry e = base;
    change(e);
    EXPECT_FALSE(s.Lookup(e)) << name;
  }
  EXPECT_EQ(s.stats().misses, 5u);
  EXPECT_EQ(s.Lookup(base), kH1);
  EXPECT_EQ(s.stats().hits, 1u);
}

TEST_F(HashStoreTest, IgnoresFieldsOutsideTheKey) {
  HashStore s = OpenStore();
  Entry e = FileEntry("f");
  s.Record(e, kH1);
  e.mode = 0600;
  e.uid = 99;
  e.nlink = 3;
  EXPECT_EQ(s.Lookup(e), kH1);
}

TEST_F(HashStoreTest, UncommittedRecordsAndForgetsAreVisibleToLookup) {
  HashStore s = OpenStore();
  Entry e = FileEntry("f");
  s.Record(e, kH1);
  EXPECT_EQ(s.Lookup(e), kH1);
  s.Commit();
  s.Forget("f");
  EXPECT_FALSE(s.Lookup(e));
  s.Commit();
  EXPECT_FALSE(s.Lookup(e));
}

TEST_F(HashStoreTest, RecordReplacesTheOldRow) {
  HashStore s = OpenStore();
  s.Record(FileEntry("f", 1, 1, 1, 1, 1), kH1);
  s.Commit();
  s.Record(FileEntry("f", 1, 1, 2, 2, 2), kH2);
  s.Commit();
  EXPECT_FALSE(s.Lookup(FileEntry("f", 1, 1, 1, 1, 1)));
  EXPECT_EQ(s.Lookup(FileEntry("f", 1, 1, 2, 2, 2)), kH2);
}

TEST_F(HashStoreTest, NonRegularFilesAlwaysMiss) {
  HashStore s = OpenStore();
  Entry d = FileEntry("d");
  s.Record(d, kH1);
  d.type = EntryType::Dir;
  EXPECT_FALSE(s.Lookup(d));
}

TEST_F(HashStoreTest, PathsAreArbitraryBytes) {
  HashStore s = OpenStore();
  std::string odd("new\nline\xff\x01 tab\t", 16);
  s.Record(FileEntry(odd), kH1);
  s.Record(FileEntry(""), kH2);
  s.Commit();
  HashStore again = OpenStore();
  EXPECT_EQ(again.Lookup(FileEntry(odd)), kH1);
  EXPECT_EQ(again.Lookup(FileEntry("")), kH2);
  EXPECT_FALSE(again.Lookup(FileEntry(std::string("new\nline\xff", 9))));
}

TEST_F(HashStoreTest, PersistsAcrossReopen) {
  {
    HashStore s = OpenStore();
    s.Record(FileEntry("a"), kH1);
    s.Record(FileEntry("b"), kH2);
    s.Commit();
  }
  HashStore s = OpenStore();
  EXPECT_EQ(s.Lookup(FileEntry("a")), kH1);
  EXPECT_EQ(s.Lookup(FileEntry("b")), kH2);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(HashStoreTest, UncommittedWritesAreDroppedOnClose) {
  { HashStore s = OpenStore(); s.Record(FileEntry("a"), kH1); }
  HashStore s = OpenStore();
  EXPECT_FALSE(s.Lookup(FileEntry("a")));
}

TEST_F(HashStoreTest, AutoCommitsLargeBatches) {
  HashStore writer = OpenStore();
  for (size_t i = 0; i < HashStore::kAutoCommitRows; ++i)
    writer.Record(FileEntry("f" + std::to_string(i)), kH1);
  HashStore reader = OpenStore();  // another connection sees only committed rows
  EXPECT_EQ(reader.Lookup(FileEntry("f0")), kH1);
  EXPECT_EQ(reader.Lookup(FileEntry("f" + std::to_string(HashStore::kAutoCommitRows - 1))), kH1);
}

TEST_F(HashStoreTest, IsMovable) {
  HashStore a = OpenStore();
  a.Record(FileEntry("a"), kH1);
  HashStore b = std::move(a);
  b.Commit();
  HashStore c = HashStore::InMemory();
  c = std::move(b);
  EXPECT_EQ(c.Lookup(FileEntry("a")), kH1);
  EXPECT_EQ(c.db_path(), DbPath());
}

TEST_F(HashStoreTest, InMemoryStoreWorksWithoutFiles) {
  HashStore s = HashStore::InMemory();
  EXPECT_FALSE(s.persistent());
  EXPECT_EQ(s.db_path(), "");
  s.Record(FileEntry("a"), kH1);
  s.Commit();
  EXPECT_EQ(s.Lookup(FileEntry("a")), kH1);
}

TEST_F(HashStoreTest, DefaultLocationIsUnderXdgStateHome) {
  std::string xdg = tmp_ + "/xdg";
  const char* old = std::getenv("XDG_STATE_HOME");
  std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ::setenv("XDG_STATE_HOME", xdg.c_str(), 1);
  HashStore s = HashStore::Open(root_, "", warn_);
  if (saved)
    ::setenv("XDG_STATE_HOME", saved->c_str(), 1);
  else
    ::unsetenv("XDG_STATE_HOME");
  EXPECT_EQ(s.db_path(), DbPathFor(xdg + "/ktsync", CanonicalRoot(root_)));
  EXPECT_TRUE(std::filesystem::exists(s.db_path()));
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(HashStoreTest, StateDirArgumentOverridesDefault) {
  HashStore s = OpenStore();
  EXPECT_EQ(s.db_path(), DbPath());
  EXPECT_EQ(s.db_path().rfind(state_ + "/roots/", 0), 0u);
  EXPECT_TRUE(std::filesystem::exists(s.db_path()));
}

TEST_F(HashStoreTest, RootIsCanonicalizedSoAliasesShareOneDb) {
  std::filesystem::create_directory_symlink(root_, tmp_ + "/alias");
  HashStore a = OpenStore();
  a.Record(FileEntry("x"), kH1);
  a.Commit();
  HashStore b = HashStore::Open(tmp_ + "/alias/", state_, warn_);
  EXPECT_EQ(b.db_path(), a.db_path());
  EXPECT_EQ(b.Lookup(FileEntry("x")), kH1);
}

TEST_F(HashStoreTest, UsesWalAndSchemaVersion) {
  { HashStore s = OpenStore(); }
  SqliteDb db = SqliteDb::Open(DbPath(), kRw);
  EXPECT_EQ(db.QueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.QueryInt("PRAGMA user_version"), kSchemaVersion);
  EXPECT_EQ(db.QueryText("SELECT value FROM meta WHERE key='root'"), CanonicalRoot(root_));
}

TEST_F(HashStoreTest, MigratesVersion1ByAddingCtimeAndDroppingRows) {
  std::filesystem::create_directories(state_ + "/roots");
  {
    SqliteDb db = SqliteDb::Open(DbPath(), kRw);
    db.Exec(
        "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
        "CREATE TABLE files(path BLOB PRIMARY KEY NOT NULL, dev INTEGER NOT NULL,"
        " ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
        " hash BLOB NOT NULL) WITHOUT ROWID;"
        "INSERT INTO files VALUES(x'61', 1, 2, 3, 4, zeroblob(16));"
        "PRAGMA user_version = 1;");
    SqliteStmt st = db.Prepare("INSERT INTO meta VALUES('root', ?1)");
    std::string root = CanonicalRoot(root_);
    st.BindBlob(1, root.data(), root.size());
    st.Step();
  }
  HashStore s = OpenStore();
  EXPECT_TRUE(warnings_.empty());
  EXPECT_EQ(s.db_path(), DbPath());
  // The v1 row (a, zero hash) had no ctime: it must not be trusted under any ctime.
  EXPECT_FALSE(s.Lookup(FileEntry("a", 1, 2, 3, 4, 0)));
  s.Record(FileEntry("a", 1, 2, 3, 4, 5), kH1);
  s.Commit();
  EXPECT_EQ(s.Lookup(FileEntry("a", 1, 2, 3, 4, 5)), kH1);

  SqliteDb db = SqliteDb::Open(DbPath(), kRw);
  EXPECT_EQ(db.QueryInt("PRAGMA user_version"), 2);
  EXPECT_EQ(db.QueryInt("SELECT count(*) FROM pragma_table_info('files') WHERE name='ctime_ns'"),
            1);
}

TEST_F(HashStoreTest, GarbageDbIsRebuiltWithWarning) {
  {
    HashStore s = OpenStore();
    s.Record(FileEntry("a"), kH1);
    s.Commit();
  }
  WriteGarbage(DbPath());
  HashStore s = OpenStore();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("rebuilding"), std::string::npos) << warnings_[0];
  EXPECT_NE(warnings_[0].find(DbPath()), std::string::npos) << warnings_[0];
  EXPECT_TRUE(s.persistent());
  EXPECT_FALSE(s.Lookup(FileEntry("a")));
  s.Record(FileEntry("a"), kH2);
  s.Commit();
  HashStore again = OpenStore();
  EXPECT_EQ(again.Lookup(FileEntry("a")), kH2);
  EXPECT_EQ(warnings_.size(), 1u);
}

TEST_F(HashStoreTest, CorruptionFoundDuringUseRebuildsAndMisses) {
  {
    HashStore s = OpenStore();
    for (int i = 0; i < 5000; ++i)
      s.Record(FileEntry("some/longer/path/name/" + std::to_string(i)), kH1);
    s.Commit();
  }
  ASSERT_GT(std::filesystem::file_size(DbPath()), 64u * 1024);
  HashStore s = OpenStore();  // reads only the first pages
  ASSERT_TRUE(warnings_.empty());
  // Trash every page behind the header page (meta, its index, the files b-tree).
  WriteGarbage(DbPath(), 4096, 64 * 1024);
  for (int i = 0; i < 5000; i += 500)
    EXPECT_FALSE(s.Lookup(FileEntry("some/longer/path/name/" + std::to_string(i))));
  ASSERT_FALSE(warnings_.empty());
  EXPECT_NE(warnings_[0].find("rebuilding"), std::string::npos) << warnings_[0];
  s.Record(FileEntry("b"), kH2);
  s.Commit();
  EXPECT_EQ(OpenStore().Lookup(FileEntry("b")), kH2);
}

TEST_F(HashStoreTest, NewerSchemaIsRebuiltWithWarning) {
  {
    HashStore s = OpenStore();
    s.Record(FileEntry("a"), kH1);
    s.Commit();
  }
  {
    SqliteDb db = SqliteDb::Open(DbPath(), kRw);
    db.Exec("PRAGMA user_version = 99");
  }
  HashStore s = OpenStore();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("newer"), std::string::npos) << warnings_[0];
  EXPECT_FALSE(s.Lookup(FileEntry("a")));
  SqliteDb db = SqliteDb::Open(DbPath(), kRw);
  EXPECT_EQ(db.QueryInt("PRAGMA user_version"), kSchemaVersion);
}

TEST_F(HashStoreTest, DbOfAnotherRootIsRebuiltWithWarning) {
  {
    HashStore s = OpenStore();
    s.Record(FileEntry("a"), kH1);
    s.Commit();
  }
  {
    SqliteDb db = SqliteDb::Open(DbPath(), kRw);
    db.Exec("UPDATE meta SET value = '/some/other/tree' WHERE key = 'root'");
  }
  HashStore s = OpenStore();
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("/some/other/tree"), std::string::npos) << warnings_[0];
  EXPECT_FALSE(s.Lookup(FileEntry("a")));
}

TEST_F(HashStoreTest, ForeignTablesAreRebuiltWithWarning) {
  std::filesystem::create_directories(state_ + "/roots");
  {
    SqliteDb db = SqliteDb::Open(DbPath(), kRw);
    db.Exec("CREATE TABLE files(x); PRAGMA user_version = 2;");
  }
  HashStore s = OpenStore();
  EXPECT_EQ(warnings_.size(), 1u);
  EXPECT_TRUE(s.persistent());
  s.Record(FileEntry("a"), kH1);
  s.Commit();
  EXPECT_EQ(s.Lookup(FileEntry("a")), kH1);
}

TEST_F(HashStoreTest, UnusableStateDirFallsBackToMemoryWithWarning) {
  std::ofstream(tmp_ + "/file") << "x";
  HashStore s = HashStore::Open(root_, tmp_ + "/file/state", warn_);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_NE(warnings_[0].find("without a persistent cache"), std::string::npos) << warnings_[0];
  EXPECT_FALSE(s.persistent());
  s.Record(FileEntry("a"), kH1);
  s.Commit();
  EXPECT_EQ(s.Lookup(FileEntry("a")), kH1);
}

TEST_F(HashStoreTest, DbPathThatIsADirectoryFallsBackToMemory) {
  std::filesystem::create_directories(DbPath());
  HashStore s = OpenStore();
  EXPECT_FALSE(s.persistent());
  EXPECT_FALSE(warnings_.empty());
  s.Record(FileEntry("a"), kH1);
  EXPECT_EQ(s.Lookup(FileEntry("a")), kH1);
}

// Two runs on one root: each child commits row by row while the other does the same.
// Two runs writing the same db at once: SQLite's locking must keep it intact. A writer that
// waits past the busy timeout may warn and go on without the cache (allowed: the cache is
// never required), but the db must never be corrupted and clean writers lose nothing.
TEST_F(HashStoreTest, ConcurrentWritersLeaveAnIntactDb) {
  constexpr int kRows = 5000;
  std::vector<pid_t> kids;
  for (int k = 0; k < 2; ++k) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int warned = 0;
      HashStore s = HashStore::Open(root_, state_, [&](const std::string&) { ++warned; });
      for (int i = 0; i < kRows; ++i) {
        s.Record(FileEntry("k" + std::to_string(k) + "/" + std::to_string(i), 1, i), kH1);
        s.Commit();
      }
      ::_exit(!s.persistent() ? 1 : warned == 0 ? 0 : 2);
    }
    kids.push_back(pid);
  }
  int clean = 0;
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 1) << "status " << status;
    clean += WEXITSTATUS(status) == 0;
  }
  SqliteDb db = SqliteDb::Open(DbPath(), kRw);
  EXPECT_EQ(db.QueryText("PRAGMA integrity_check"), "ok");
  EXPECT_GE(db.QueryInt("SELECT count(*) FROM files"), clean * kRows);
}

}  // namespace
}  // namespace ktsync
