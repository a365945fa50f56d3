// HashStore: per-tree-root cache of file content hashes (XXH3-128), so a file is re-read
// only when it may have changed.
//
// A row is keyed by relative path and validated by (dev, ino, size, mtime_ns, ctime_ns):
// a lookup hits only when all five equal the file's current values. ctime is in the key
// because mtime can be set back by anyone (touch -r, rsync -t) while ctime cannot, so
// "rewritten, then mtime restored" still misses.
//
// The cache is an optimization and is never trusted over the filesystem, and never fatal:
// a missing, corrupt, foreign (other root), newer-schema or unusable db is rebuilt with a
// one-line warning, or, when even that fails (or another process holds it busy beyond the
// timeout), the run goes on with an empty in-memory cache. Warnings go to the callback.
//
// Writes are buffered in memory and flushed in ONE short transaction by Commit() (and
// automatically every kAutoCommitRows), so concurrent runs on one root wait on each other
// only briefly; SQLite's WAL locking keeps the file consistent between them.
//
// Thread-safe (one lock: copiers and receivers record while the planner looks up); do not
// carry an open HashStore across fork(). Uncommitted writes are dropped by the destructor:
// call Commit().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "manifest/entry.h"
#include "store/sqlite_db.h"
#include "util/hash.h"

namespace ktsync {

struct StoreStats {
  uint64_t hits = 0, misses = 0, hashed = 0, recorded = 0;
};

// The stat fields that must all be unchanged for a cached hash to be reused.
using CacheKey = FileIdentity;

class HashStore {
 public:
  using WarnFn = std::function<void(const std::string&)>;
  static constexpr size_t kAutoCommitRows = 50000;
  static constexpr int kBusyTimeoutMs = 5000;
  // Consecutive hits share one read transaction up to this many lookups (ended by a miss or
  // Commit): a transaction per statement costs ~3 syscalls (WAL read lock, file check),
  // which dominates at 100k lookups.
  static constexpr uint32_t kLookupsPerReadTxn = 4096;

  // Opens (creating, migrating or rebuilding as needed) the db for `root_abs_path` under
  // `state_dir` ("" = $XDG_STATE_HOME/ktsync). Never throws for a db problem.
  static HashStore Open(const std::string& root_abs_path, const std::string& state_dir,
                        WarnFn warn);
  static HashStore InMemory();  // empty, private; for tests and as the fallback

  HashStore(HashStore&&) = default;
  HashStore& operator=(HashStore&&) = default;
  ~HashStore() = default;

  // Hit only when the cached key equals the entry's CURRENT dev/ino/size/mtime/ctime.
  // Counts hits and misses. Non-regular files always miss (uncounted).
  std::optional<Hash128> Lookup(const Entry& e);
  std::optional<Hash128> Lookup(std::string_view path, const CacheKey& key);
  // `e` (or `key`) must describe the file as it was when `h` was computed from it.
  void Record(const Entry& e, const Hash128& h);
  void Record(std::string_view path, const CacheKey& key, const Hash128& h);
  void Forget(std::string_view path);  // entry deleted or replaced
  void Commit();                       // flush buffered writes in one transaction

  // Whether a mirror into this tree completed before, into the directory that is its root
  // now (`root_id`, e.g. "dev:ino": a tree deleted and made again, or another disk mounted
  // at the path, is another tree): the first-mirror guard's question (mirror/deletion_gate.h).
  // False for an in-memory cache, which knows no earlier run.
  bool MirroredInto(const std::string& root_id);
  // Records, at once, that a mirror into the tree whose root is `root_id` has completed
  // (meta keys 'mirrored_root' and 'mirrored_at', seconds since the epoch). A failure to
  // record only means that the next run asks again.
  void MarkMirroredInto(const std::string& root_id);

  StoreStats stats() const;
  void CountHashed();  // a file was read to compute its hash
  std::string db_path() const { return db_path_; }  // "" when in memory
  bool persistent() const { return !db_path_.empty(); }

 private:
  struct Row {
    CacheKey key;
    Hash128 hash;
  };
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  enum class OpenResult { Ok, Rebuild, Busy, Fallback };

  HashStore() = default;
  OpenResult TryOpenFile(std::string* reason);
  void OpenFileOrFallback();
  void OpenMemory();
  void PrepareStatements();
  void CloseDb();
  void Rebuild(const std::string& reason);
  void HandleError(const SqliteError& e, const char* during);
  void WritePending();
  void Warn(const std::string& msg) const;
  void MaybeAutoCommit();
  void CommitLocked();
  void EndRead();

  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();  // movable store, one lock
  std::string root_;
  std::string db_path_;
  WarnFn warn_;
  SqliteDb db_;  // declared before the statements so they are finalized first
  SqliteStmt lookup_;
  SqliteStmt upsert_;
  SqliteStmt delete_;
  // path -> row to write, or nullopt to delete. Consulted by Lookup before the db.
  std::unordered_map<std::string, std::optional<Row>, PathHash, std::equal_to<>> pending_;
  StoreStats stats_;
  bool soft_error_warned_ = false;
  uint32_t reads_in_txn_ = 0;  // > 0 while a read transaction is open
};

}  // namespace ktsync
