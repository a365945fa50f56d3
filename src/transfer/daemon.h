// `ktsync serve --listen`: a long-running daemon serving its modules (one --root tree, or
// the named ones of --config: serve_config.h) to clients that know a module's secret.
//
// Every connection is TLS 1.3 with a PSK derived from its module's secret, the module named
// by the PSK identity (mutual authentication, (EC)DHE forward secrecy; the secret never
// crosses the wire). Who may try to authenticate is Admission's call (admission.h); a
// connection that has not finished the handshake within --auth-timeout is dropped, and
// OpenSSL bounds how many bytes an unauthenticated peer can make us buffer. The first frame
// tells a control connection (Hello: a new session, at most --max-connections at once and
// a module's max sessions) from a data connection (DataHello: routed by its session token
// to a running session of the same module). A session whose control channel is silent for
// --idle-timeout ends. Sessions run with the module's access and WriteLimits.
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
  std::string listen;       // ADDR:PORT
  std::string config_file;  // modules (serve_config.h); else the one tree below
  std::string root;
  std::string secret_file;
  std::string state_dir;
  bool read_only = false;
  bool write_only = false;
  int max_connections = 16;
  int auth_timeout_sec = 10;
  // A session whose control channel brings nothing, not even a Keepalive, for this long
  // is ended (peers send one every FrameSender::kKeepaliveEvery while busy).
  int idle_timeout_sec = 300;
  static constexpr int kMinIdleTimeout = 30;
  bool no_ktls = false;
  int verbose = 0;
  std::string user, group;  // drop to these after binding (--user, --group)
  WriteLimits limits{false, false, false};
  bool fake_super = false;
};

// Serves until killed, each session by `handler`. Throws ktsync::Error if it cannot start
// (bad secret file, port busy).
int RunDaemon(const DaemonConfig& cfg, const SessionHandler& handler);

}  // namespace ktsync
