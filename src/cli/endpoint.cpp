#include "cli/endpoint.h"

#include <cctype>

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

// "scheme://" at the start: a URL. Only ktsync:// is ours.
void RefuseOtherUrls(const std::string& arg) {
  size_t sep = arg.find("://");
  if (sep == std::string::npos || sep == 0) return;
  for (size_t i = 0; i < sep; ++i) {
    char c = arg[i];
    unsigned char u = static_cast<unsigned char>(c);
    bool ok = std::isalpha(u) || (i > 0 && (std::isdigit(u) || c == '+' || c == '-' || c == '.'));
    if (!ok) return;
  }
  std::string scheme = arg.substr(0, sep);
  if (scheme == "rsync")
    Bad(arg, "rsync:// is rsync's daemon; ktsync reaches a `ktsync serve` daemon as ktsync://host/path, "
             "or any ssh host as host:/path");
  Bad(arg, "unknown scheme " + scheme + "://; write host:/path (over ssh) or ktsync://host/path (a ktsync daemon)");
}

// [user@]host or [user@][v6addr], before the ':' that starts the path; returns the index of
// that ':'.
size_t ParseSshHost(const std::string& arg, Endpoint& e) {
  size_t colon = arg.find(':');
  size_t host_at = 0;
  if (size_t at = arg.rfind('@', colon); at != std::string::npos) {
    e.user = arg.substr(0, at);
    if (e.user.empty() || e.user[0] == '-') Bad(arg, "user names may not be empty or start with '-'");
    host_at = at + 1;
  }
  if (arg.compare(host_at, 1, "[") == 0) {
    size_t close = arg.find(']', host_at);
    if (close == std::string::npos) Bad(arg, "unterminated '[' in IPv6 address");
    if (close + 1 >= arg.size() || arg[close + 1] != ':') Bad(arg, "expected ':' after ']'");
    e.host = arg.substr(host_at + 1, close - host_at - 1);
    colon = close + 1;
  } else {
    e.host = arg.substr(host_at, colon - host_at);
  }
  CheckHost(arg, e.host);
  return colon;
}

}  // namespace

std::string Endpoint::Display() const {
  switch (kind) {
    case Kind::Local: return path;
    case Kind::Ssh: {
      std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
      return (user.empty() ? "" : user + "@") + h + ":" + path;
    }
    case Kind::Daemon: return "ktsync://" + host + ":" + std::to_string(port) + path;
  }
  return path;
}

Endpoint ParseEndpoint(const std::string& arg) {
  if (arg.empty()) Bad(arg, "empty path");
  if (arg.rfind("ktsync://", 0) == 0) return ParseDaemon(arg);
  RefuseOtherUrls(arg);
  size_t colon = arg.find(':');
  size_t slash = arg.find('/');
  Endpoint e;
  if (colon == std::string::npos || (slash != std::string::npos && slash < colon)) {
    e.path = arg;
    return e;
  }
  e.kind = Endpoint::Kind::Ssh;
  e.path = arg.substr(ParseSshHost(arg, e) + 1);
  if (e.path.empty()) e.path = ".";  // rsync's "host:": the remote home
  return e;
}

}  // namespace ktsync
