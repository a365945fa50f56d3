#include "cli/endpoint.h"

#include "util/error.h"

namespace ktsync {
namespace {

[[noreturn]] void Bad(const std::string& arg, const std::string& why) {
  throw Error(ExitCode::Usage, "invalid location '" + arg + "': " + why);
}

void CheckHost(const std::string& arg, const std::string& host) {
  if (host.empty()) Bad(arg, "missing host name");
  // A host beginning with '-' would be parsed by ssh as an option (CVE-2017-1000117 class).
  if (host[0] == '-') Bad(arg, "host names may not start with '-'");
  for (char c : host)
    if (c == ' ' || c == '\t' || c == '\n' || c == '/' || c == '\\')
      Bad(arg, "host name contains a space, '/' or '\\'");
}

Endpoint ParseDaemon(const std::string& arg) {
  Endpoint e;
  e.kind = Endpoint::Kind::Daemon;
  std::string rest = arg.substr(9);  // after "ktsync://"
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  e.path = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = hostport.rfind(':');
  bool bracketed = !hostport.empty() && hostport[0] == '[';
  if (bracketed) {
    size_t close = hostport.find(']');
    if (close == std::string::npos) Bad(arg, "unterminated '[' in IPv6 address");
    e.host = hostport.substr(1, close - 1);
    colon = hostport.size() > close + 1 && hostport[close + 1] == ':' ? close + 1 : std::string::npos;
  } else {
    e.host = hostport.substr(0, colon);
  }
  e.port = kDefaultDaemonPort;
  if (colon != std::string::npos) {
    std::string p = hostport.substr(colon + 1);
    unsigned long v = 0;
    try {
      size_t used = 0;
      v = std::stoul(p, &used);
      if (used != p.size()) v = 0;
    } catch (const std::exception&) {
      v = 0;
    }
    if (v == 0 || v > 65535) Bad(arg, "port must be a number from 1 to 65535");
    e.port = static_cast<uint16_t>(v);
  }
  CheckHost(arg, e.host);
  return e;
}

}  // namespace

std::string Endpoint::Display() const {
  switch (kind) {
    case Kind::Local: return path;
    case Kind::Ssh: return (user.empty() ? "" : user + "@") + host + ":" + path;
    case Kind::Daemon: return "ktsync://" + host + ":" + std::to_string(port) + path;
  }
  return path;
}

Endpoint ParseEndpoint(const std::string& arg) {
  if (arg.empty()) Bad(arg, "empty path");
  if (arg.rfind("ktsync://", 0) == 0) return ParseDaemon(arg);
  size_t colon = arg.find(':');
  size_t slash = arg.find('/');
  Endpoint e;
  if (colon == std::string::npos || (slash != std::string::npos && slash < colon)) {
    e.path = arg;
    return e;
  }
  e.kind = Endpoint::Kind::Ssh;
  std::string userhost = arg.substr(0, colon);
  e.path = arg.substr(colon + 1);
  size_t at = userhost.rfind('@');
  if (at != std::string::npos) {
    e.user = userhost.substr(0, at);
    e.host = userhost.substr(at + 1);
    if (e.user.empty() || e.user[0] == '-') Bad(arg, "user names may not be empty or start with '-'");
  } else {
    e.host = userhost;
  }
  CheckHost(arg, e.host);
  if (e.path.empty() || e.path[0] != '/')
    Bad(arg, "remote path must be absolute (write " + userhost + ":/path/to/dir)");
  return e;
}

}  // namespace ktsync
