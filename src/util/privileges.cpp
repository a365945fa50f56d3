#include "util/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

constexpr size_t kDbBuffer = 16384;

bool AllDigits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// A uid or gid written as a number; nullopt beyond 32 bits (and -1, which means "unchanged").
std::optional<uint32_t> IdNumber(const std::string& s) {
  if (!AllDigits(s) || s.size() > 10) return std::nullopt;
  uint64_t v = std::stoull(s);
  if (v >= UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

struct Account {
  uid_t uid;
  gid_t gid;
  std::string name;
  std::string home;
};

Account LookUpUser(const std::string& user, const std::string& option) {
  std::vector<char> buf(kDbBuffer);
  passwd pw{};
  passwd* found = nullptr;
  std::optional<uint32_t> uid = IdNumber(user);
  int rc = uid ? getpwuid_r(*uid, &pw, buf.data(), buf.size(), &found)
               : getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found)
    throw Error(ExitCode::Usage, option + " " + user + ": no such user in the passwd database; name an existing account");
  return {pw.pw_uid, pw.pw_gid, pw.pw_name, pw.pw_dir ? pw.pw_dir : "/"};
}

gid_t LookUpGroup(const std::string& group, const std::string& option) {
  if (AllDigits(group)) {
    if (std::optional<uint32_t> gid = IdNumber(group)) return *gid;
    throw Error(ExitCode::Usage, option + " " + group + ": not a group id (0 to 4294967294)");
  }
  std::vector<char> buf(kDbBuffer);
  struct group gr{};
  struct group* found = nullptr;
  if (getgrnam_r(group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || !found)
    throw Error(ExitCode::Usage, option + " " + group + ": no such group; name an existing group");
  return gr.gr_gid;
}

}  // namespace

uint32_t UserIdOf(const std::string& user, const std::string& option) {
  if (std::optional<uint32_t> uid = IdNumber(user)) return *uid;  // an owner DST's passwd may not list
  return LookUpUser(user, option).uid;
}
uint32_t GroupIdOf(const std::string& group, const std::string& option) { return LookUpGroup(group, option); }

void DropPrivileges(const std::string& user, const std::string& group) {
  Account a = LookUpUser(user, "--user");
  gid_t gid = group.empty() ? a.gid : LookUpGroup(group, "--group");
  if (::initgroups(a.name.c_str(), gid) != 0) throw SysError("initgroups " + a.name, errno, ExitCode::Usage);
  if (::setresgid(gid, gid, gid) != 0) throw SysError("setresgid " + std::to_string(gid), errno, ExitCode::Usage);
  if (::setresuid(a.uid, a.uid, a.uid) != 0)
    throw SysError("setresuid " + std::to_string(a.uid), errno, ExitCode::Usage);
  if (a.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0))
    throw Error(ExitCode::Usage, "--user " + user + ": root could be regained after dropping privileges; refusing to serve");
  ::setenv("HOME", a.home.c_str(), 1);
  ::unsetenv("XDG_STATE_HOME");  // root's would win over the user's HOME
}

}  // namespace ktsync
