// Hash-cache schema and its migrations.
//
// The version is PRAGMA user_version. Migrations are an ordered list of steps, each taking
// the db from version N-1 to N; a fresh db (version 0) runs them all, so the upgrade path is
// exercised on every new cache, not only on old ones. All pending steps run in ONE
// transaction: a crash mid-upgrade leaves the old version intact.
//
//   v1: meta(key TEXT PRIMARY KEY, value BLOB)
//       files(path BLOB PRIMARY KEY, dev, ino, size, mtime_ns, hash)     -- no ctime
//   v2: files gains ctime_ns; v1 rows are dropped (without ctime they cannot be validated:
//       content rewritten with its mtime restored would look unchanged).
//
// meta holds key 'root' = the canonical root path this db caches; a db whose root differs
// (xxh3-64 file-name collision, copied state dir) is not ours. Keys 'mirrored_root' (the
// root directory's "dev:ino") and 'mirrored_at' (seconds since the epoch, as text) are
// written when a mirror into the tree completes; they needed no migration, and an older
// ktsync ignores them.
#pragma once

#include <string_view>

#include "store/sqlite_db.h"

namespace ktsync {

inline constexpr int kSchemaVersion = 2;

enum class SchemaState {
  Ready,         // at kSchemaVersion and caching `root`
  Newer,         // written by a newer ktsync: not ours to downgrade in place
  RootMismatch,  // caches another tree
};

// Brings `db` to kSchemaVersion and claims it for `root` when unclaimed. Cheap when the db is
// already current (two reads, no write lock). Throws SqliteError.
SchemaState PrepareSchema(SqliteDb& db, std::string_view root);

}  // namespace ktsync
