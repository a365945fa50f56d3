// The state dir's databases, one per tree ktsync has listed as SRC or mirrored into
// (state_dir.h), for `ktsync state list|prune` (issue 15: the state dir grew one database
// per tree with no way to see or remove them): what each caches, how big and how recently
// used it is, and which of them prune removes. Listing only reads; RemoveStateDb writes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ktsync {

struct StateDb {
  std::string path;         // <state>/roots/<16 hex digits>.sqlite
  std::string tree;         // the tree it caches, as recorded in it ("" when unreadable)
  uint64_t bytes = 0;       // with its -wal and -shm files
  int64_t last_used = 0;    // newest mtime of those files, seconds since the epoch
  int64_t mirrored_at = 0;  // the last completed mirror into the tree (0: none recorded)
  bool tree_exists = false;
  bool locked = false;      // a running mirror into the tree holds its lock (root_lock.h)
};

// Sorted by tree. A state dir that does not exist lists nothing; one that is not this
// user's alone is refused as every run refuses it (Error(SelectFiles), state_dir.h).
std::vector<StateDb> ListStateDbs(const std::string& state_dir);

struct PruneRule {
  std::optional<int64_t> older_than_days;  // not used for this many days
  bool missing = false;                    // its tree is gone (or it names none)
};

// Pure: why prune removes `db` ("" = it stays). A database a running mirror holds stays.
std::string PruneReason(const StateDb& db, const PruneRule& rule, int64_t now);

// Removes the database, its side files and its lock file, holding the lock meanwhile so no
// mirror starts into the tree halfway. False, with the reason, when a run holds it now or
// a file cannot be removed.
bool RemoveStateDb(const StateDb& db, std::string* why);

}  // namespace ktsync
