// The trees a daemon serves: its modules. `ktsync serve --config FILE` reads them from a
// file; `--root DIR --secret-file FILE` is one unnamed module. Pure parsing and lookups.
//
// File format (like rsyncd.conf): `#` comments, one `[name]` line per module, then
// `key = value` lines for it:
//   path = /srv/photos              (required, absolute)
//   secret file = /etc/ktsync/photos.secret   (required; mode 0600 or stricter)
//   access = read-write | read-only | write-only     (default read-write)
//   allow devices = yes | no        (default no; as serve --allow-devices)
//   allow setid = yes | no          (default no)
//   allow owners = yes | no         (default no)
//   max sessions = N                (default 0: only --max-connections bounds it)
//   fake super = yes | no           (default no; as serve --fake-super)
// Names are 1..64 of [A-Za-z0-9._-], each once. A client names a module by the first
// component of its path (ktsync://host/photos/2024) and proves it knows that module's
// secret: its TLS PSK identity is "ktsync/<module>" (kDaemonIdentity alone for no path).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/write_limits.h"

namespace ktsync {

struct Module {
  std::string name;  // "" for the --root form: every identity names it
  std::string root;
  std::string secret_file;
  bool read_only = false;
  bool write_only = false;
  WriteLimits limits{false, false, false};
  int max_sessions = 0;
  bool fake_super = false;
};

// Throws Error(Usage) naming `file_name`, the line and what is wrong.
std::vector<Module> ParseServeConfig(std::string_view text, const std::string& file_name);

// The PSK identity a client uses for a path on a daemon.
std::string DaemonIdentityFor(std::string_view path);

// The module `identity` names among `modules`, or null.
const Module* ModuleFor(const std::vector<Module>& modules, std::string_view identity);

// The path beneath the module's root that a request's `path` names ("" for the root), or
// nullopt when `path` is not inside module `name` (the --root form: all of it).
std::optional<std::string> PathInModule(const std::string& name, std::string_view path);

}  // namespace ktsync
