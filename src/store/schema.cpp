#include "store/schema.h"

#include <optional>
#include <string>

namespace ktsync {
namespace {

struct Migration {
  int to_version;
  const char* sql;
};

// Append only. Never edit a shipped step: existing caches already ran it.
constexpr Migration kMigrations[] = {
    {1,
     "CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
     "CREATE TABLE files(path BLOB PRIMARY KEY NOT NULL, dev INTEGER NOT NULL,"
     " ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
     " hash BLOB NOT NULL) WITHOUT ROWID;"},
    {2,
     "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL);"
     "DELETE FROM files;"
     "ALTER TABLE files ADD COLUMN ctime_ns INTEGER NOT NULL DEFAULT 0;"},
};

static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion);

std::optional<std::string> StoredRoot(SqliteDb& db) {
  SqliteStmt st = db.Prepare("SELECT value FROM meta WHERE key = 'root'");
  if (!st.Step()) return std::nullopt;
  return std::string(st.ColumnBlob(0));
}

// The write path: runs under BEGIN IMMEDIATE so two runs creating the same cache at once
// serialize instead of both running step 1.
SchemaState UpgradeLocked(SqliteDb& db, std::string_view root) {
  int64_t version = db.QueryInt("PRAGMA user_version");
  if (version > kSchemaVersion) return SchemaState::Newer;
  for (const Migration& m : kMigrations)
    if (m.to_version > version) db.Exec(m.sql);
  if (version != kSchemaVersion) db.Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
  std::optional<std::string> stored = StoredRoot(db);
  if (stored) return *stored == root ? SchemaState::Ready : SchemaState::RootMismatch;
  SqliteStmt ins = db.Prepare("INSERT INTO meta(key, value) VALUES('root', ?1)");
  ins.BindBlob(1, root.data(), root.size());
  ins.Step();
  return SchemaState::Ready;
}

}  // namespace

SchemaState PrepareSchema(SqliteDb& db, std::string_view root) {
  int64_t version = db.QueryInt("PRAGMA user_version");
  if (version > kSchemaVersion) return SchemaState::Newer;
  if (version == kSchemaVersion) {
    std::optional<std::string> stored = StoredRoot(db);
    if (stored) return *stored == root ? SchemaState::Ready : SchemaState::RootMismatch;
  }
  db.Exec("BEGIN IMMEDIATE");
  try {
    SchemaState state = UpgradeLocked(db, root);
    db.Exec(state == SchemaState::Ready ? "COMMIT" : "ROLLBACK");
    return state;
  } catch (...) {
    try {
      db.Exec("ROLLBACK");
    } catch (const SqliteError&) {
      // Already rolled back by SQLite itself (e.g. on SQLITE_FULL); nothing left to undo.
    }
    throw;
  }
}

}  // namespace ktsync
