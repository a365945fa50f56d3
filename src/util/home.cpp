#include "util/home.h"

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

template <typename Lookup>
std::optional<std::string> PasswdHome(Lookup lookup) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (lookup(&pw, buf.data(), buf.size(), &found) != 0 || !found || !found->pw_dir) return std::nullopt;
  return std::string(found->pw_dir);
}

}  // namespace

std::string HomeDirectory() {
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return home;
  return PasswdHome([](passwd* pw, char* buf, size_t n, passwd** found) {
           return getpwuid_r(getuid(), pw, buf, n, found);
         }).value_or("");
}

std::optional<std::string> UserHome(const std::string& user) {
  return PasswdHome([&user](passwd* pw, char* buf, size_t n, passwd** found) {
    return getpwnam_r(user.c_str(), pw, buf, n, found);
  });
}

std::string WorkingDirectory() {
  std::vector<char> buf(PATH_MAX);
  if (!getcwd(buf.data(), buf.size())) throw SysError("find the working directory", errno);
  return buf.data();
}

}  // namespace ktsync
