// Endpoint: what a SRC or DST argument names. Pure parsing, no I/O.
//   /local/path  or  relative/path          a local directory
//   [user@]host:path                        a remote reached over ssh (like rsync): an
//                                           absolute path, or one relative to the remote
//                                           login's home ("host:" is the home itself,
//                                           "host:~/x" and "host:~user/x" as in a shell);
//                                           an IPv6 address in brackets: user@[::1]:/p
//   ktsync://host[:port]/path               a `ktsync serve` daemon (path is under its --root)
// rsync's rule decides local vs remote: a ':' before the first '/' makes it remote, so
// "./a:b" is local. Other URLs (rsync://, ssh://, ...) are refused with what to write
// instead.
#pragma once

#include <cstdint>
#include <string>

namespace ktsync {

struct Endpoint {
  enum class Kind { Local, Ssh, Daemon } kind = Kind::Local;
  std::string user;  // ssh only, may be empty
  std::string host;  // ssh and daemon
  uint16_t port = 0; // daemon only
  std::string path;

  bool remote() const { return kind != Kind::Local; }
  std::string Display() const;  // how messages name it, e.g. "backup@nas:/srv/x"
};

constexpr uint16_t kDefaultDaemonPort = 7373;

// Throws Error(ExitCode::Usage) with a one-line explanation for malformed arguments
// (host starting with '-', empty path, bad port, another URL scheme).
Endpoint ParseEndpoint(const std::string& arg);

}  // namespace ktsync
