// The path a client asked an ssh-started server for, made absolute on the server's side as
// rsync users expect: relative to the login's working directory (ssh starts the command in
// the home directory), "~" and "~/x" under $HOME, "~user/x" under that user's home. Pure:
// the caller supplies the working directory, HOME and a lookup of other users' homes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace ktsync {

using HomeOf = std::function<std::optional<std::string>(const std::string& user)>;

// Throws Error(SelectFiles) naming the path for an unknown user or an empty HOME.
std::string ResolveRemotePath(std::string_view requested, const std::string& cwd, const std::string& home,
                              const HomeOf& home_of);

}  // namespace ktsync
