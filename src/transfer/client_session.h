// The client end of a network mirror: connects the control channel (ssh or daemon), runs
// the control phase against the remote ServerSession, plans, and drives the bulk phase in
// whichever direction the mirror goes. The local tree is read or written only here.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "apply/apply_plan.h"
#include "manifest/plan.h"
#include "mirror/tree_side.h"
#include "util/problems.h"
#include "util/run_stats.h"
#include "util/transfer_meter.h"

namespace ktsync {

struct RemoteTarget {
  bool daemon = false;
  std::string user;
  std::string host;
  uint16_t port = 0;          // daemon
  std::string path;
  std::string ssh_command = "ssh";
  std::string remote_ktsync = "ktsync";
  std::string secret_file;    // daemon
};

struct ClientOptions {
  RemoteTarget remote;
  std::string local_path;
  bool push = true;           // local is SRC
  bool dry_run = false;
  PlanOptions plan;
  TreeConfig tree;
  ApplyOptions apply;
  std::optional<uint64_t> max_delete;
  std::optional<double> max_delete_percent;
  int streams = 0;            // 0 = automatic
  uint16_t data_port = 0;
  uint64_t bwlimit = 0;
  bool require_ktls = false;
  bool no_ktls = false;
  bool no_encryption = false;
  int timeout_sec = 0;
};

struct ClientHooks {
  std::function<void(const std::string&)> warn;
  // The plan, before anything is changed (itemize / JSON / dry-run listing).
  std::function<void(const Plan&, const Manifest& src, const Manifest& dst)> on_plan;
  TransferMeter* meter = nullptr;  // file data moved so far, for live progress
};

// Runs the whole mirror. Per-entry problems (both sides') land in `problems`; run-ending
// failures throw ktsync::Error. `plan_out` receives the plan for the summary.
RunStats RunClientSession(const ClientOptions& opts, const ClientHooks& hooks, Problems& problems, Plan& plan_out);

}  // namespace ktsync
