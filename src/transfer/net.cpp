#include "transfer/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "util/error.h"

namespace ktsync {

namespace {

using Clock = std::chrono::steady_clock;

uint16_t ParsePort(const std::string& digits, const std::string& text) {
  bool ok = !digits.empty() && digits.size() <= 5 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  unsigned long value = ok ? std::stoul(digits) : 0;
  if (!ok || value > 65535)
    throw Error(ExitCode::Usage, "invalid port '" + digits + "' in '" + text + "': expected 0-65535");
  return static_cast<uint16_t>(value);
}

struct AddrInfoFree {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoFree>;

AddrInfoList Resolve(const std::string& host, uint16_t port, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    std::string cause = rc == EAI_SYSTEM ? ErrnoMessage("getaddrinfo", errno) : ::gai_strerror(rc);
    throw Error(ExitCode::SocketIo, "cannot resolve host '" + host + "': " + cause);
  }
  return AddrInfoList(list);
}

// Remaining milliseconds until deadline for poll(); -1 (forever) when there is no deadline.
int RemainingMs(const std::optional<Clock::time_point>& deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

std::optional<Clock::time_point> DeadlineAfter(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

// Waits for `events` on fd; false when the deadline passed first.
bool PollUntil(int fd, short events, const std::optional<Clock::time_point>& deadline,
               const std::string& what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, RemainingMs(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) throw SysError(what, errno, ExitCode::SocketIo);
  }
}

void SetBlocking(int fd, const std::string& what) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
    throw SysError(what, errno, ExitCode::SocketIo);
}

struct ConnectResult {
  UniqueFd fd;
  int err = 0;            // errno of the failure
  bool deadline = false;  // our own deadline passed (err is then ETIMEDOUT)
};

ConnectResult ConnectOne(const addrinfo& ai, const std::optional<Clock::time_point>& deadline,
                         const std::string& what) {
  ConnectResult r;
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd) {
    r.err = errno;
    return r;
  }
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) {
      r.err = errno;
      return r;
    }
    if (!PollUntil(fd.get(), POLLOUT, deadline, what)) {
      r.err = ETIMEDOUT;
      r.deadline = true;
      return r;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    if (soerr != 0) {
      r.err = soerr;
      return r;
    }
  }
  SetBlocking(fd.get(), what);
  r.fd = std::move(fd);
  return r;
}

// A wildcard listener on "::" with V6ONLY off serves IPv4 too, so try IPv6 first there.
std::vector<const addrinfo*> ListenOrder(const addrinfo* list, bool wildcard) {
  std::vector<const addrinfo*> order;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) order.push_back(ai);
  if (wildcard)
    std::stable_partition(order.begin(), order.end(),
                          [](const addrinfo* ai) { return ai->ai_family == AF_INET6; });
  return order;
}

int BindAndListen(const addrinfo& ai, bool wildcard, int backlog, UniqueFd* out) {
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC, ai.ai_protocol));
  if (!fd) return errno;
  int one = 1, zero = 0;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (wildcard && ai.ai_family == AF_INET6)
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (::bind(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) return errno;
  if (::listen(fd.get(), backlog) != 0) return errno;
  *out = std::move(fd);
  return 0;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1) return true;
  std::string v6 = s.substr(0, s.find('%'));  // link-local addresses carry a %scope suffix
  return ::inet_pton(AF_INET6, v6.c_str(), buf) == 1;
}

}  // namespace

HostPort ParseHostPort(const std::string& text, uint16_t default_port) {
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos)
      throw Error(ExitCode::Usage, "invalid address '" + text + "': missing ']'");
    std::string rest = text.substr(close + 1);
    HostPort hp{text.substr(1, close - 1), default_port};
    if (rest.empty()) return hp;
    if (rest[0] != ':')
      throw Error(ExitCode::Usage, "invalid address '" + text + "': expected ':port' after ']'");
    hp.port = ParsePort(rest.substr(1), text);
    return hp;
  }
  size_t colons = std::count(text.begin(), text.end(), ':');
  if (colons != 1) return HostPort{text, default_port};  // plain name, or a bare IPv6 address
  size_t colon = text.find(':');
  return HostPort{text.substr(0, colon), ParsePort(text.substr(colon + 1), text)};
}

HostPort ParseListenAddress(const std::string& text, uint16_t default_port) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) return {"", ParsePort(text, text)};
  return ParseHostPort(text, default_port);
}

std::string FormatHostPort(const std::string& host, uint16_t port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

UniqueFd Listen(const std::string& host, uint16_t port, int backlog) {
  bool wildcard = host.empty();
  AddrInfoList list = Resolve(host, port, AI_PASSIVE);
  int err = EADDRNOTAVAIL;
  for (const addrinfo* ai : ListenOrder(list.get(), wildcard)) {
    UniqueFd fd;
    err = BindAndListen(*ai, wildcard, backlog, &fd);
    if (err == 0) return fd;
  }
  throw SysError("listen on " + FormatHostPort(wildcard ? "*" : host, port), err, ExitCode::SocketIo);
}

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    throw SysError("getsockname", errno, ExitCode::SocketIo);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  throw Error(ExitCode::SocketIo, "getsockname: not an IP socket");
}

UniqueFd ConnectTcp(const std::string& host, uint16_t port, int timeout_ms) {
  const std::string what = "connect to " + FormatHostPort(host, port);
  if (host.empty()) throw Error(ExitCode::Usage, what + ": empty host name");
  auto deadline = DeadlineAfter(timeout_ms > 0 ? timeout_ms : -1);
  AddrInfoList list = Resolve(host, port, 0);
  ConnectResult last;
  last.err = EADDRNOTAVAIL;
  for (const addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
    if (deadline && Clock::now() >= *deadline) break;
    last = ConnectOne(*ai, deadline, what);
    if (last.fd) return std::move(last.fd);
  }
  if (last.deadline || (deadline && Clock::now() >= *deadline))
    throw Error(ExitCode::Timeout, what + ": timed out after " + std::to_string(timeout_ms) + " ms");
  throw SysError(what, last.err, last.err == ETIMEDOUT ? ExitCode::Timeout : ExitCode::SocketIo);
}

UniqueFd AcceptWithTimeout(int listen_fd, int timeout_ms) {
  auto deadline = DeadlineAfter(timeout_ms);
  for (;;) {
    if (!PollUntil(listen_fd, POLLIN, deadline, "poll on listening socket")) return UniqueFd();
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    // The queued connection went away between poll and accept: keep waiting.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR ||
        errno == EPROTO)
      continue;
    throw SysError("accept", errno, ExitCode::SocketIo);
  }
}

void TuneDataSocket(int fd, int buffer_bytes) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  // Default keepalive waits 2 hours before the first probe; this notices a dead peer in ~2 min.
  int idle = 60, interval = 10, count = 6;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  if (buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
  }
}

void SetIoTimeout(int fd, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds > 0 ? seconds : 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    throw SysError("set I/O timeout on socket", errno, ExitCode::SocketIo);
}

std::string ServerAddressFromSshConnection(const char* value) {
  if (!value) return "";
  std::istringstream in(value);
  std::vector<std::string> fields;
  for (std::string f; in >> f;) fields.push_back(f);
  if (fields.size() != 4 || !IsIpAddress(fields[2])) return "";
  return fields[2];
}

std::string ServerAddressFromSshConnection() {
  return ServerAddressFromSshConnection(std::getenv("SSH_CONNECTION"));
}

}  // namespace ktsync
