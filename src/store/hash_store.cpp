#include "store/hash_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "store/schema.h"
#include "store/state_dir.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr int kOpenFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

// 16 bytes, high half first, big-endian: the same digit order as Hash128::Hex on any host.
void EncodeHash(const Hash128& h, unsigned char out[16]) {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<unsigned char>(h.hi >> (56 - 8 * i));
    out[8 + i] = static_cast<unsigned char>(h.lo >> (56 - 8 * i));
  }
}

std::optional<Hash128> DecodeHash(std::string_view b) {
  if (b.size() != 16) return std::nullopt;
  Hash128 h;
  for (int i = 0; i < 8; ++i) {
    h.hi = (h.hi << 8) | static_cast<unsigned char>(b[i]);
    h.lo = (h.lo << 8) | static_cast<unsigned char>(b[8 + i]);
  }
  return h;
}

// Removes the db and its WAL side files; false (with the reason) if one cannot be removed.
bool RemoveDbFiles(const std::string& db, std::string* reason) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::string p = db + suffix;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      *reason = ErrnoMessage("cannot remove " + p, errno);
      return false;
    }
  }
  return true;
}

}  // namespace

HashStore HashStore::Open(const std::string& root_abs_path, const std::string& state_dir,
                          WarnFn warn) {
  HashStore s;
  s.warn_ = std::move(warn);
  s.root_ = CanonicalRoot(root_abs_path);
  std::string dir = ResolveStateDir(state_dir);
  if (dir.empty()) {
    s.Warn("hash cache: no state directory (HOME and XDG_STATE_HOME unset); continuing "
           "without a persistent cache; pass --state-dir");
    s.OpenMemory();
    return s;
  }
  try {
    MakeStateDirs(dir);
  } catch (const SysError& e) {
    s.Warn(std::string("hash cache: ") + e.what() +
           "; continuing without a persistent cache; pass --state-dir");
    s.OpenMemory();
    return s;
  }
  s.db_path_ = DbPathFor(dir, s.root_);
  s.OpenFileOrFallback();
  return s;
}

HashStore HashStore::InMemory() {
  HashStore s;
  s.OpenMemory();
  return s;
}

HashStore::OpenResult HashStore::TryOpenFile(std::string* reason) {
  try {
    db_ = SqliteDb::Open(db_path_, kOpenFlags);
    db_.SetBusyTimeoutMs(kBusyTimeoutMs);
    // WAL: readers never block the writer, and a crash cannot leave a torn db.
    db_.QueryText("PRAGMA journal_mode=WAL");
    db_.Exec("PRAGMA synchronous=NORMAL");
    switch (PrepareSchema(db_, root_)) {
      case SchemaState::Ready:
        break;
      case SchemaState::Newer:
        *reason = "written by a newer ktsync (schema version " +
                  std::to_string(db_.QueryInt("PRAGMA user_version")) + ", this one knows " +
                  std::to_string(kSchemaVersion) + ")";
        CloseDb();
        return OpenResult::Rebuild;
      case SchemaState::RootMismatch:
        *reason = "caches another tree (" + db_.QueryText("SELECT value FROM meta WHERE key='root'") +
                  ")";
        CloseDb();
        return OpenResult::Rebuild;
    }
    PrepareStatements();
    return OpenResult::Ok;
  } catch (const SqliteError& e) {
    CloseDb();
    *reason = e.what();
    if (e.IsBusy()) {
      *reason += " (another process held it for more than " +
                 std::to_string(kBusyTimeoutMs / 1000) + " s)";
      return OpenResult::Busy;
    }
    // SQLITE_ERROR here means tables or columns are not what this schema version promises.
    if (e.IsCorrupt() || e.primary() == SQLITE_ERROR) return OpenResult::Rebuild;
    return OpenResult::Fallback;
  }
}

void HashStore::OpenFileOrFallback() {
  std::string reason;
  OpenResult r = TryOpenFile(&reason);
  // Switching a fresh db to WAL (or creating its schema) while another run does the same
  // can report SQLITE_BUSY at once, without waiting in the busy handler: retry within the
  // busy timeout before giving up on the persistent cache.
  for (int waited_ms = 0; r == OpenResult::Busy && waited_ms < kBusyTimeoutMs; waited_ms += 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    r = TryOpenFile(&reason);
  }
  if (r == OpenResult::Ok) return;
  if (r == OpenResult::Rebuild) {
    Warn("hash cache " + db_path_ + ": " + reason + "; rebuilding it");
    if (RemoveDbFiles(db_path_, &reason)) {
      r = TryOpenFile(&reason);
      if (r == OpenResult::Ok) return;
    }
  }
  Warn("hash cache " + db_path_ + ": " + reason + "; continuing without a persistent cache");
  OpenMemory();
}

void HashStore::OpenMemory() {
  CloseDb();
  db_path_.clear();
  db_ = SqliteDb::Open(":memory:", kOpenFlags);
  PrepareSchema(db_, root_);
  PrepareStatements();
}

void HashStore::PrepareStatements() {
  lookup_ = db_.Prepare(
      "SELECT dev, ino, size, mtime_ns, ctime_ns, hash FROM files WHERE path = ?1");
  upsert_ = db_.Prepare(
      "INSERT OR REPLACE INTO files(path, dev, ino, size, mtime_ns, ctime_ns, hash)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  delete_ = db_.Prepare("DELETE FROM files WHERE path = ?1");
}

void HashStore::CloseDb() {
  reads_in_txn_ = 0;  // closing the connection ends any open transaction
  lookup_ = SqliteStmt();
  upsert_ = SqliteStmt();
  delete_ = SqliteStmt();
  db_.Close();
}

void HashStore::Rebuild(const std::string& reason) {
  CloseDb();
  if (db_path_.empty()) {
    Warn("in-memory hash cache: " + reason + "; starting it over");
    OpenMemory();
    return;
  }
  Warn("hash cache " + db_path_ + ": " + reason + "; rebuilding it");
  std::string why;
  if (RemoveDbFiles(db_path_, &why) && TryOpenFile(&why) == OpenResult::Ok) return;
  Warn("hash cache " + db_path_ + ": " + why + "; continuing without a persistent cache");
  OpenMemory();
}

void HashStore::HandleError(const SqliteError& e, const char* during) {
  if (e.IsCorrupt()) {
    Rebuild(std::string(e.what()) + " during " + during);
    return;
  }
  // Busy beyond the timeout, disk full, I/O error: skip this use of the cache. Warn once so a
  // failing disk does not print a line per file.
  if (soft_error_warned_) return;
  soft_error_warned_ = true;
  Warn("hash cache " + (db_path_.empty() ? std::string("(in memory)") : db_path_) + ": " +
       e.what() + " during " + during + "; affected hashes will be recomputed");
}

void HashStore::Warn(const std::string& msg) const {
  if (warn_) warn_(msg);
}

std::optional<Hash128> HashStore::Lookup(const Entry& e) {
  if (!e.IsFile()) return std::nullopt;
  return Lookup(e.path, CacheKey::Of(e));
}

std::optional<Hash128> HashStore::Lookup(std::string_view path, const CacheKey& key) {
  std::lock_guard lock(*mu_);
  std::optional<Hash128> found;
  auto it = pending_.empty() ? pending_.end() : pending_.find(path);
  if (it != pending_.end()) {
    if (it->second && it->second->key == key) found = it->second->hash;
  } else if (lookup_.valid()) {
    try {
      if (reads_in_txn_ == 0) db_.Exec("BEGIN");
      ++reads_in_txn_;
      lookup_.BindBlob(1, path.data(), path.size());
      if (lookup_.Step()) {
        CacheKey stored{static_cast<uint64_t>(lookup_.ColumnInt64(0)),
                        static_cast<uint64_t>(lookup_.ColumnInt64(1)),
                        static_cast<uint64_t>(lookup_.ColumnInt64(2)), lookup_.ColumnInt64(3),
                        lookup_.ColumnInt64(4)};
        if (stored == key) found = DecodeHash(lookup_.ColumnBlob(5));
      }
      lookup_.Reset();
      // A miss is usually followed by hashing the file, which may take long: do not hold the
      // snapshot (and so block checkpoints of other runs) meanwhile.
      if (!found || reads_in_txn_ >= kLookupsPerReadTxn) EndRead();
    } catch (const SqliteError& e) {
      EndRead();
      HandleError(e, "lookup");
    }
  }
  ++(found ? stats_.hits : stats_.misses);
  return found;
}

void HashStore::Record(const Entry& e, const Hash128& h) { Record(e.path, CacheKey::Of(e), h); }

void HashStore::Record(std::string_view path, const CacheKey& key, const Hash128& h) {
  std::lock_guard lock(*mu_);
  auto it = pending_.find(path);
  if (it == pending_.end()) {
    pending_.emplace(std::string(path), Row{key, h});
  } else {
    it->second = Row{key, h};
  }
  ++stats_.recorded;
  MaybeAutoCommit();
}

void HashStore::Forget(std::string_view path) {
  std::lock_guard lock(*mu_);
  auto it = pending_.find(path);
  if (it == pending_.end()) {
    pending_.emplace(std::string(path), std::nullopt);
  } else {
    it->second.reset();
  }
  MaybeAutoCommit();
}

void HashStore::MaybeAutoCommit() {
  if (pending_.size() >= kAutoCommitRows) CommitLocked();
}

void HashStore::EndRead() {
  if (reads_in_txn_ == 0) return;
  reads_in_txn_ = 0;
  try {
    db_.Exec("COMMIT");
  } catch (const SqliteError&) {
    // Ending a read-only transaction has nothing to lose; a failure here means SQLite already
    // ended it (e.g. after an error inside it).
  }
}

void HashStore::WritePending() {
  EndRead();  // a read snapshot cannot be upgraded to a write if another run committed since
  db_.Exec("BEGIN IMMEDIATE");
  try {
    unsigned char hash[16];
    for (const auto& [path, row] : pending_) {
      SqliteStmt& st = row ? upsert_ : delete_;
      st.BindBlob(1, path.data(), path.size());
      if (row) {
        st.BindInt64(2, static_cast<int64_t>(row->key.dev));
        st.BindInt64(3, static_cast<int64_t>(row->key.ino));
        st.BindInt64(4, static_cast<int64_t>(row->key.size));
        st.BindInt64(5, row->key.mtime_ns);
        st.BindInt64(6, row->key.ctime_ns);
        EncodeHash(row->hash, hash);
        st.BindBlob(7, hash, sizeof hash);
      }
      st.Step();
      st.Reset();
    }
    db_.Exec("COMMIT");
  } catch (const SqliteError&) {
    try {
      db_.Exec("ROLLBACK");
    } catch (const SqliteError&) {
      // SQLite already rolled back on its own (it does on SQLITE_FULL, SQLITE_IOERR...).
    }
    throw;
  }
}

void HashStore::Commit() {
  std::lock_guard lock(*mu_);
  CommitLocked();
}

bool HashStore::MirroredInto(const std::string& root_id) {
  std::lock_guard lock(*mu_);
  if (db_path_.empty() || !db_.valid()) return false;
  try {
    EndRead();
    SqliteStmt st = db_.Prepare("SELECT value FROM meta WHERE key = 'mirrored_root'");
    return st.Step() && st.ColumnBlob(0) == root_id;
  } catch (const SqliteError& e) {
    HandleError(e, "reading the mirror record");
    return false;
  }
}

void HashStore::MarkMirroredInto(const std::string& root_id) {
  std::lock_guard lock(*mu_);
  if (db_path_.empty() || !db_.valid()) return;
  try {
    EndRead();
    SqliteStmt st = db_.Prepare(
        "INSERT OR REPLACE INTO meta(key, value) VALUES('mirrored_root', ?1),"
        " ('mirrored_at', CAST(strftime('%s', 'now') AS TEXT))");
    st.BindText(1, root_id);
    st.Step();
  } catch (const SqliteError& e) {
    HandleError(e, "recording the mirror");
  }
}

StoreStats HashStore::stats() const {
  std::lock_guard lock(*mu_);
  return stats_;
}

void HashStore::CountHashed() {
  std::lock_guard lock(*mu_);
  ++stats_.hashed;
}

void HashStore::CommitLocked() {
  if (pending_.empty() || !db_.valid()) return;
  try {
    WritePending();
  } catch (const SqliteError& e) {
    HandleError(e, "commit");
    if (e.IsCorrupt()) {
      // The rows are still valid: they go into the rebuilt (or in-memory) db.
      try {
        WritePending();
      } catch (const SqliteError& again) {
        HandleError(again, "commit");
      }
    }
  }
  pending_.clear();
}

}  // namespace ktsync
