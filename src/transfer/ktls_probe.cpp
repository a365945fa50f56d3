#include "transfer/ktls_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "util/unique_fd.h"

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

namespace ktsync {

namespace {

std::string ProbeFailure(const char* what) {
  return std::string("cannot probe kernel TLS: ") + what + ": " + std::strerror(errno);
}

// The tls ULP can only be attached to an established TCP socket, hence the loopback pair.
std::string ProbeKtls() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ProbeFailure("socket");
  struct sockaddr_in addr {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return ProbeFailure("bind 127.0.0.1");
  if (listen(listener.get(), 1) != 0) return ProbeFailure("listen");
  if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return ProbeFailure("getsockname");
  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!client) return ProbeFailure("socket");
  if (connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return ProbeFailure("connect 127.0.0.1");
  UniqueFd server(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (!server) return ProbeFailure("accept");

  static const char kUlp[] = "tls";
  if (setsockopt(client.get(), IPPROTO_TCP, TCP_ULP, kUlp, sizeof kUlp) == 0) return "";
  int err = errno;
  std::string detail = std::string("(setsockopt TCP_ULP \"tls\": ") + std::strerror(err) + ")";
  switch (err) {
    case ENOENT: return "tls module not loaded " + detail;
    case ENOPROTOOPT: return "kernel has no TCP upper-layer protocol support " + detail;
    default: return "kernel refused the tls ULP " + detail;
  }
}

}  // namespace

std::string KtlsUnavailableReason() {
  static const std::string reason = ProbeKtls();
  return reason;
}

}  // namespace ktsync
