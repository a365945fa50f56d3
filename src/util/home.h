// Where the process is and whose it is: thin wrappers over getcwd, HOME and the passwd
// database.
#pragma once

#include <optional>
#include <string>

namespace ktsync {

// HOME when it is absolute, else the passwd entry of the real uid; "" when neither is.
std::string HomeDirectory();
// The home directory of `user`, when the passwd database has one.
std::optional<std::string> UserHome(const std::string& user);
// getcwd(); throws SysError when the working directory is gone.
std::string WorkingDirectory();

}  // namespace ktsync
