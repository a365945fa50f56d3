// TCP building blocks for the network mode: address parsing, listening, connecting with a
// deadline, accepting with a timeout, and socket tuning.
//
// Contract: every socket is created close-on-exec and returned blocking, owned by a UniqueFd.
// Failures that end the run throw Error with ExitCode::SocketIo (refused, unreachable, cannot
// resolve, cannot bind) or ExitCode::Timeout (connect deadline passed); messages name
// "host:port" and the cause.
#pragma once

#include <cstdint>
#include <string>

#include "util/unique_fd.h"

namespace ktsync {

struct HostPort {
  std::string host;  // without IPv6 brackets; empty means "any address" for Listen
  uint16_t port = 0;
};

// "host", "host:7373", "1.2.3.4:0", "[::1]:7373", "[::1]", ":7373", and a bare IPv6 address
// ("::1", more than one ':') which takes default_port. Throws Error(Usage) on a bad port or
// unbalanced brackets.
HostPort ParseHostPort(const std::string& text, uint16_t default_port);
// serve --listen: as ParseHostPort, and a bare number is a port on every address (rsync's
// habit: --listen 7373), not a host named "7373".
HostPort ParseListenAddress(const std::string& text, uint16_t default_port);

// "host:port", or "[v6]:port" when host contains ':'. For messages and logs.
std::string FormatHostPort(const std::string& host, uint16_t port);

// Binds and listens with SO_REUSEADDR. An empty host listens on every address (IPv6 socket
// accepting IPv4 too when the kernel allows, otherwise IPv4). Port 0 picks a free port; see
// LocalPort.
UniqueFd Listen(const std::string& host, uint16_t port, int backlog = 64);

// The local port a socket is bound to.
uint16_t LocalPort(int fd);

// Tries each resolved address until one connects or the overall deadline passes.
// timeout_ms <= 0 waits as long as the kernel retries SYNs.
UniqueFd ConnectTcp(const std::string& host, uint16_t port, int timeout_ms);

// Waits for one connection; returns an invalid UniqueFd when timeout_ms passes first
// (timeout_ms < 0 waits forever).
UniqueFd AcceptWithTimeout(int listen_fd, int timeout_ms);

// Settings for a bulk data connection: TCP_NODELAY (the stream layer batches its writes, so
// Nagle would only delay small control frames), keepalive probing so a vanished peer is noticed
// within minutes. buffer_bytes > 0 fixes SO_SNDBUF/SO_RCVBUF; 0 (the default) leaves Linux
// buffer autotuning on, which a fixed size disables (and autotuning grows past 4 MiB on its own).
// Failures to tune are ignored: tuning is an optimisation, never a reason to fail.
void TuneDataSocket(int fd, int buffer_bytes = 0);

// SO_RCVTIMEO/SO_SNDTIMEO; 0 removes them. A blocked read/write then fails with EAGAIN, which
// callers report as ExitCode::Timeout.
void SetIoTimeout(int fd, int seconds);

// The server address from an SSH_CONNECTION value ("client_ip client_port server_ip
// server_port"), or "" when absent or malformed. The remote end uses it to know which of its
// addresses the client reached it on.
std::string ServerAddressFromSshConnection(const char* value);
// Same, reading the environment variable SSH_CONNECTION.
std::string ServerAddressFromSshConnection();

}  // namespace ktsync
