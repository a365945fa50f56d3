// The remote end of a mirror: `ktsync serve --stdio` (started by a client over ssh) and
// each client of a `ktsync serve --listen` daemon run one ServerSession.
//
// It answers a client's Request strictly in order (Hello, Request, then its manifest, then
// any number of HashRequests, then exactly one of: SendList (it sends), the plan (it
// receives), or Done (dry run)), and it never opens a path the client names: the client
// sends indices into the manifest this side built. Any violation ends the session.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "transfer/control.h"

namespace ktsync {

struct ServerConfig {
  std::string root;       // daemon: requests are confined beneath it; ssh: "" (absolute paths)
  std::string state_dir;
  bool read_only = false;
  bool write_only = false;
  bool no_ktls = false;
  // Daemon: called with the new session's token; returns the queue its data connections
  // will be routed to. ssh mode (null): the session opens a DataListener of its own.
  std::function<DataQueue*(const SessionToken&)> register_session;
  std::function<void(const SessionToken&)> unregister_session;
  // Daemon: every data connection is secured with this key (derived from the secret).
  std::array<unsigned char, 32> daemon_key{};
  std::function<void(const std::string&)> log;  // warnings for the server's operator
  std::optional<Hello> peer_hello;               // daemon: the client's Hello, already read
};

// Runs one session to completion. Returns the exit code the session ended with (also sent
// to the client as an Error frame when it is not 0).
int RunServerSession(ByteStream& control, const ServerConfig& cfg);

}  // namespace ktsync
