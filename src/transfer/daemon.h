// `ktsync serve --listen`: a long-running daemon serving one directory tree to clients that
// know the shared secret.
//
// Every connection is TLS 1.3 with a PSK derived from the secret (mutual authentication,
// (EC)DHE forward secrecy; the secret never crosses the wire). A connection that has not
// finished the handshake within --auth-timeout is dropped, and OpenSSL bounds how many
// bytes an unauthenticated peer can make us buffer. The first frame tells a control
// connection (Hello: a new session, at most --max-connections at once) from a data
// connection (DataHello: routed by its session token to a running session).
#pragma once

#include <functional>
#include <string>

#include "transfer/server_link.h"
#include "transfer/stream.h"

namespace ktsync {

// Runs one authenticated client's session over `control` (a ServerLink and whatever the
// request asks for); returns the exit code it ended with, for the log.
using SessionHandler = std::function<int(ByteStream& control, const ServerConfig& cfg)>;

struct DaemonConfig {
  std::string listen;  // ADDR:PORT
  std::string root;
  std::string secret_file;
  std::string state_dir;
  bool read_only = false;
  bool write_only = false;
  int max_connections = 16;
  int auth_timeout_sec = 10;
  bool no_ktls = false;
  int verbose = 0;
  std::string user, group;  // drop to these after binding (--user, --group)
  WriteLimits limits{false, false, false};
};

// Serves until killed, each session by `handler`. Throws ktsync::Error if it cannot start
// (bad secret file, port busy).
int RunDaemon(const DaemonConfig& cfg, const SessionHandler& handler);

}  // namespace ktsync
