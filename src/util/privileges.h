// Dropping root for good: `ktsync serve --user/--group` binds its port as root, then runs
// every session as an ordinary account, so what a client can make the daemon do is bounded
// by that account's rights, not root's.
#pragma once

#include <cstdint>
#include <string>

namespace ktsync {

// Becomes `user` (by name or number) with `group` (default: the user's primary group) and
// the user's supplementary groups; HOME becomes the user's home, so the default state dir
// is theirs. Verifies that root cannot be regained. Throws Error(Usage) for an unknown
// user or group, SysError when a switch fails (the process must then not go on).
void DropPrivileges(const std::string& user, const std::string& group);

// A user or group by name or number (--chown's, looked up where DST is); throws
// Error(Usage) naming `option` when there is none.
uint32_t UserIdOf(const std::string& user, const std::string& option);
uint32_t GroupIdOf(const std::string& group, const std::string& option);

}  // namespace ktsync
