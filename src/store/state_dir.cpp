#include "store/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "util/error.h"
#include "util/home.h"

namespace ktsync {

std::string DefaultStateDirFrom(const char* xdg_state_home, const char* home) {
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg_state_home && xdg_state_home[0] == '/') return std::string(xdg_state_home) + "/ktsync";
  if (home && home[0] == '/') return std::string(home) + "/.local/state/ktsync";
  return {};
}

std::string DefaultStateDir() {
  std::string home = HomeDirectory();
  return DefaultStateDirFrom(std::getenv("XDG_STATE_HOME"), home.c_str());
}

std::string ResolveStateDir(const std::string& override_dir) {
  if (!override_dir.empty()) return override_dir;
  // KTSYNC_STATE_DIR reaches a remote `ktsync serve` too (ssh SetEnv/AcceptEnv), where no
  // command-line option of the client's does.
  const char* env = std::getenv("KTSYNC_STATE_DIR");
  return env && env[0] == '/' ? std::string(env) : DefaultStateDir();
}

std::string CanonicalRoot(const std::string& root) {
  char* real = ::realpath(root.c_str(), nullptr);
  if (!real) return root;
  std::string out(real);
  std::free(real);
  return out;
}

std::string CanonicalPathOf(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  struct stat st;
  if (::lstat(p.c_str(), &st) == 0) return CanonicalRoot(p);
  size_t slash = p.rfind('/');
  std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : p.substr(0, slash);
  std::string leaf = slash == std::string::npos ? p : p.substr(slash + 1);
  std::string base = CanonicalRoot(parent);
  return base == "/" ? "/" + leaf : base + "/" + leaf;
}

std::string DbPathFor(const std::string& state_dir, const std::string& canonical_root) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(canonical_root.data(),
                                                            canonical_root.size())));
  return state_dir + "/roots/" + hex + ".sqlite";
}

void MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) throw SysError("mkdir (empty state dir path)", ENOENT);
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) == 0 || errno == EEXIST) continue;
    throw SysError("mkdir " + prefix, errno);
  }
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw SysError("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) throw SysError(path, ENOTDIR);
}

namespace {

void CheckPrivateDir(const std::string& dir) {
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0) throw SysError("stat " + dir, errno);
  uid_t me = ::geteuid();
  if (st.st_uid != me) {
    throw Error(ExitCode::SelectFiles, "state dir " + dir + " belongs to uid " + std::to_string(st.st_uid) +
                                           ", not to this user (uid " + std::to_string(me) +
                                           "); chown it or choose another --state-dir");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw Error(ExitCode::SelectFiles, "state dir " + dir + " is writable by others; chmod go-w it or choose "
                                                             "another --state-dir");
  }
}

}  // namespace

void MakeStateDirs(const std::string& state_dir) {
  MakeDirs(state_dir + "/roots", 0700);
  CheckStateDirs(state_dir);
}

void CheckStateDirs(const std::string& state_dir) {
  CheckPrivateDir(state_dir);
  CheckPrivateDir(state_dir + "/roots");
}

std::optional<FileId> StateDirId(const std::string& override_dir) {
  std::string dir = ResolveStateDir(override_dir);
  struct stat st{};
  if (dir.empty() || ::stat(dir.c_str(), &st) != 0) return std::nullopt;
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

}  // namespace ktsync
