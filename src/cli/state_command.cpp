// `ktsync state list|prune`: the state dir's databases (store/state_catalog.h), printed.
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/itemize.h"
#include "cli/output.h"
#include "store/state_catalog.h"
#include "store/state_dir.h"
#include "util/error.h"

namespace ktsync {
namespace {

std::string LocalTime(int64_t t) {
  if (t == 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  char buf[32];
  ::localtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// Tree names are escaped as itemized names are: one line each, whatever bytes they hold.
std::string TreeName(const StateDb& db) { return db.tree.empty() ? "(unreadable database)" : EscapeItemName(db.tree); }

std::string Line(const StateDb& db) {
  std::string where = db.tree_exists ? "present" : "missing";
  if (db.locked) where += ",locked";
  char head[96];
  std::snprintf(head, sizeof head, "%10s  %s  %-15s ", HumanBytes(db.bytes).c_str(), LocalTime(db.last_used).c_str(),
                where.c_str());
  return head + TreeName(db);
}

std::string Json(const StateDb& db) {
  return "{\"tree\":\"" + JsonEscape(db.tree) + "\",\"db\":\"" + JsonEscape(db.path) +
         "\",\"bytes\":" + std::to_string(db.bytes) + ",\"last_used\":" + std::to_string(db.last_used) +
         ",\"mirrored_at\":" + (db.mirrored_at ? std::to_string(db.mirrored_at) : "null") +
         ",\"tree_exists\":" + (db.tree_exists ? "true" : "false") + ",\"locked\":" + (db.locked ? "true" : "false") +
         "}";
}

int List(const std::vector<StateDb>& dbs, const std::string& dir, bool json) {
  for (const StateDb& db : dbs) std::cout << (json ? Json(db) : Line(db)) << "\n";
  if (!json && dbs.empty()) std::cerr << "ktsync: no databases in " << dir << "\n";
  return 0;
}

int Prune(const std::vector<StateDb>& dbs, const StateOptions& o) {
  PruneRule rule{o.older_than_days, o.missing};
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  uint64_t count = 0, bytes = 0;
  int code = 0;
  for (const StateDb& db : dbs) {
    std::string reason = PruneReason(db, rule, now);
    if (reason.empty()) {
      if (db.locked) std::cout << "kept " << TreeName(db) << ": a running mirror holds it\n";
      continue;
    }
    std::string why;
    if (!o.dry_run && !RemoveStateDb(db, &why)) {
      std::cerr << "ktsync: kept " << TreeName(db) << ": " << why << "\n";
      code = static_cast<int>(ExitCode::FileIo);
      continue;
    }
    std::cout << (o.dry_run ? "would remove " : "removed ") << TreeName(db) << " (" << reason << ", "
              << HumanBytes(db.bytes) << ")\n";
    ++count;
    bytes += db.bytes;
  }
  std::cout << (o.dry_run ? "would remove " : "removed ") << count << " of " << dbs.size() << " databases ("
            << HumanBytes(bytes) << ")\n";
  return code;
}

}  // namespace

int RunStateCommand(const StateOptions& o) {
  std::string dir = ResolveStateDir(o.state_dir);
  if (dir.empty()) throw Error(ExitCode::SelectFiles, "no state directory (HOME and XDG_STATE_HOME unset); pass --state-dir");
  std::vector<StateDb> dbs = ListStateDbs(dir);
  return o.action == StateOptions::Action::List ? List(dbs, dir, o.json) : Prune(dbs, o);
}

}  // namespace ktsync
