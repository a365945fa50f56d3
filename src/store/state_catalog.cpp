#include "store/state_catalog.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "store/root_lock.h"
#include "store/sqlite_db.h"
#include "store/state_dir.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace ktsync {
namespace {

// A database's files (SQLite's WAL side files with it), its lock file aside.
std::vector<std::string> FilesOf(const std::string& db) { return {db, db + "-wal", db + "-shm", db + "-journal"}; }
constexpr int64_t kDay = 24 * 60 * 60;

// DbPathFor's names: 16 lowercase hex digits and ".sqlite"; anything else is not ours.
bool IsDbName(std::string_view name) {
  constexpr std::string_view kSuffix = ".sqlite";
  if (name.size() != 16 + kSuffix.size() || name.substr(16) != kSuffix) return false;
  return name.substr(0, 16).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// Reads what the database records; a db it cannot read keeps tree "" (prune --missing).
// Opened for writing, though it only reads: a read-only connection to a WAL database leaves
// new -wal and -shm files behind, which would make each listing a "use" (last_used), while
// the last read-write connection to close removes them again.
void ReadRecords(StateDb& db) {
  try {
    SqliteDb sql = SqliteDb::Open(db.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
    sql.SetBusyTimeoutMs(1000);
    db.tree = sql.QueryText("SELECT value FROM meta WHERE key = 'root'");
    std::string at = sql.QueryText("SELECT value FROM meta WHERE key = 'mirrored_at'");
    db.mirrored_at = at.empty() ? 0 : std::stoll(at);
  } catch (const std::exception&) {
    // Corrupt, foreign or busy: listed as naming no tree; a run would rebuild it anyway.
  }
}

void AddFileStat(const std::string& path, StateDb& db) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return;
  db.bytes += static_cast<uint64_t>(st.st_size);
  db.last_used = std::max<int64_t>(db.last_used, st.st_mtim.tv_sec);
}

bool TreeExists(const std::string& tree) {
  struct stat st{};
  return !tree.empty() && ::stat(tree.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Without creating it: a lock file that does not exist is held by no one.
bool LockHeld(const std::string& lock_path) {
  UniqueFd fd(::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  return ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

StateDb Describe(const std::string& path) {
  StateDb db;
  db.path = path;
  for (const std::string& f : FilesOf(path)) AddFileStat(f, db);
  ReadRecords(db);
  db.tree_exists = TreeExists(db.tree);
  db.locked = LockHeld(path + ".lock");
  return db;
}

}  // namespace

std::vector<StateDb> ListStateDbs(const std::string& state_dir) {
  std::string roots = state_dir + "/roots";
  struct stat st{};
  if (::stat(roots.c_str(), &st) != 0) return {};
  CheckStateDirs(state_dir);
  DIR* dir = ::opendir(roots.c_str());
  if (!dir) throw SysError("read state dir " + roots, errno, ExitCode::SelectFiles);
  std::vector<std::string> names;
  while (const dirent* d = ::readdir(dir))
    if (IsDbName(d->d_name)) names.emplace_back(d->d_name);
  ::closedir(dir);
  std::vector<StateDb> out;
  for (const std::string& n : names) out.push_back(Describe(roots + "/" + n));
  std::sort(out.begin(), out.end(), [](const StateDb& a, const StateDb& b) { return a.tree < b.tree; });
  return out;
}

std::string PruneReason(const StateDb& db, const PruneRule& rule, int64_t now) {
  if (db.locked) return "";
  if (rule.missing && !db.tree_exists) return db.tree.empty() ? "it names no tree" : "its tree is gone";
  if (rule.older_than_days && now - db.last_used > *rule.older_than_days * kDay)
    return "not used for " + std::to_string((now - db.last_used) / kDay) + " days";
  return "";
}

bool RemoveStateDb(const StateDb& db, std::string* why) {
  std::string lock_path = db.path + ".lock";
  RootLock lock;
  try {
    lock = RootLock::AcquireFile(lock_path, db.tree.empty() ? db.path : db.tree, nullptr);
  } catch (const Error& e) {
    *why = e.what();
    return false;
  }
  std::vector<std::string> files = FilesOf(db.path);
  files.push_back(lock_path);  // last: held until the database is gone
  for (const std::string& p : files) {
    if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
      *why = ErrnoMessage("cannot remove " + p, errno);
      return false;
    }
  }
  return true;
}

}  // namespace ktsync
