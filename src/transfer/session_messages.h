// Control-channel messages specific to a mirror session (the generic frames live in wire.h).
// Pure encode/decode; every field from the peer is bounded and validated.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/mirror_spec.h"
#include "transfer/wire.h"
#include "util/keep_budget.h"
#include "util/problems.h"

namespace ktsync {

enum class ServerRole : uint8_t {
  Send = 1,     // pull: the server's tree is SRC
  Receive = 2,  // push: the server's tree is DST
};

// How a session's data travels over ssh (--data-via): direct TCP connections to a port the
// server opens, or channels inside the ssh connection; Auto tries direct, then ssh.
enum class DataVia : uint8_t { Auto = 0, Direct = 1, Ssh = 2 };

struct SessionRequest {
  ServerRole role = ServerRole::Send;
  std::string path;  // ssh: absolute path; daemon: relative to --root
  MirrorSpec spec;
  bool no_ktls = false;
  bool no_encryption = false;
  bool require_ktls = false;  // the server, when it sends, must encrypt in the kernel
  bool want_items = false;    // push: send an Item per change made (-i, --json, -v, -n)
  uint16_t streams = 1;
  uint16_t data_port = 0;
  uint64_t bwlimit = 0;
  DataVia data_via = DataVia::Auto;  // ssh mode; Ssh: the server opens no port
  int compress_level = 0;            // -z: the sender compresses file data (0 = off)
  std::array<unsigned char, 32> data_key{};  // ssh mode: this run's fresh data-channel key
  // Pull with --files-from: the list follows the Request (FileList frames, wire.h), and
  // whether its directories are descended (an explicit -r, file_list.h).
  bool file_list = false;
  bool file_list_recursive = false;
  // No operator==: PlanOptions has none, so a defaulted one would be deleted (an error in clang).
};

inline constexpr uint32_t kMaxFilterRules = 4096;
inline constexpr size_t kMaxPatternBytes = 4096;
inline constexpr uint16_t kMaxStreams = 16;
inline constexpr int kMaxCompressLevel = 19;     // zstd's highest without --ultra
inline constexpr int kDefaultCompressLevel = 3;  // zstd's own default

void EncodeRequest(const SessionRequest& r, std::string& out);
SessionRequest DecodeRequest(std::string_view payload);

// Server -> client after Request: where and how to open data connections.
struct SessionReady {
  uint16_t data_port = 0;  // 0: the same address and port as the control connection (daemon)
  std::string data_host;   // address the client reached the server on ("" = use the host name)
  SessionToken token{};
  // Pull: why the server's sending side would encrypt in userspace ("" = in the kernel), so
  // --require-ktls refuses before the client changes anything.
  std::string send_ktls_unavailable;
  bool operator==(const SessionReady&) const = default;
};

void EncodeReady(const SessionReady& r, std::string& out);
SessionReady DecodeReady(std::string_view payload);

// ssh mode, client -> server right after Ready: the route the client chose. From the next
// byte on, Ssh carries everything as channels of a Mux (mux.h); None: a dry run, no data.
enum class DataRoute : uint8_t { None = 0, Direct = 1, Ssh = 2 };

void EncodeDataRoute(DataRoute r, std::string& out);
DataRoute DecodeDataRoute(std::string_view payload);

// One per-entry problem or note a peer reports before its Result.
struct SessionReport {
  enum Kind : uint8_t { Failed = 0, Vanished = 1, Note = 2 } kind = Failed;
  std::string key;      // path for problems, a name for notes ("encryption_recv")
  std::string message;
  bool operator==(const SessionReport&) const = default;
};

void EncodeReport(const SessionReport& r, std::string& out);
SessionReport DecodeReport(std::string_view payload);

// A peer's last word, as a channel collects it: its Reports (at most kMaxReports of at
// most kMaxReportBytes kept, the rest counted) and the numbers of its Result.
struct PeerEnd {
  static constexpr size_t kMaxReports = 100000;
  // A Report may carry 8 KiB: what is kept is bounded in bytes (keys and messages) too.
  static constexpr size_t kMaxReportBytes = 16 << 20;
  std::vector<SessionReport> reports;
  uint64_t reports_dropped = 0;
  Stats stats;
  void Add(SessionReport r);

 private:
  KeepBudget budget_{kMaxReports, kMaxReportBytes};
};

}  // namespace ktsync
