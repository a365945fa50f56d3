#include "mirror/remote_path.h"

#include "util/error.h"

namespace ktsync {
namespace {

std::string Join(const std::string& dir, std::string_view rest) {
  if (rest.empty() || rest == ".") return dir;
  if (rest.starts_with("./")) rest.remove_prefix(2);
  return dir + (dir.ends_with('/') ? "" : "/") + std::string(rest);
}

}  // namespace

std::string ResolveRemotePath(std::string_view requested, const std::string& cwd, const std::string& home,
                              const HomeOf& home_of) {
  std::string path(requested);
  if (path.starts_with('/')) return path;
  if (!path.starts_with('~')) return Join(cwd, path);
  size_t slash = path.find('/');
  std::string user = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string_view rest = slash == std::string::npos ? std::string_view() : std::string_view(path).substr(slash + 1);
  if (user.empty()) {
    if (home.empty() || home[0] != '/')
      throw Error(ExitCode::SelectFiles,
                  "remote path '" + path + "': HOME is not set to an absolute path on this host");
    return Join(home, rest);
  }
  std::optional<std::string> dir = home_of(user);
  if (!dir || dir->empty() || (*dir)[0] != '/')
    throw Error(ExitCode::SelectFiles,
                "remote path '" + path + "': no user '" + user + "' with a home directory on this host");
  return Join(*dir, rest);
}

}  // namespace ktsync
