// The entry points of a mirror run, and the one mapping from a MirrorSpec to what each stage
// of the pipeline does. Every run is the destination half (dest_half.h) on the side that
// holds DST, fed by SRC's scan here (local) or by the source half (source_half.h) on the
// peer; the CLI and the daemon call these and nothing else of the pipeline.
#pragma once

#include <optional>
#include <string>

#include "apply/apply_action.h"
#include "manifest/mirror_spec.h"
#include "manifest/write_limits.h"
#include "mirror/dest_half.h"
#include "mirror/run_observer.h"
#include "mirror/tree_side.h"
#include "transfer/client_link.h"
#include "transfer/server_link.h"
#include "util/problems.h"
#include "util/run_stats.h"
#include "util/transfer_meter.h"

namespace ktsync {

// How a run's data moves (the CLI's network options; bwlimit holds for local copies too).
struct NetworkOptions {
  int streams = 0;         // 0 = automatic
  uint16_t data_port = 0;  // 0 = ephemeral
  uint64_t bwlimit = 0;    // bytes per second, 0 = unlimited
  bool require_ktls = false;
  bool no_ktls = false;
  bool no_encryption = false;
  int timeout_sec = 0;     // I/O inactivity timeout, 0 = none
  DataVia data_via = DataVia::Auto;  // host:/path remotes
  int compress_level = 0;  // -z: zstd on file data that shrinks (0 = off)
};

struct RunSpec {
  MirrorSpec spec;
  std::string state_dir;  // "" = default location
  std::string src, dst;   // local paths; for a network run, the local one of them
  // A network run: the peer, and whether it holds DST (push) or SRC (pull).
  std::optional<RemoteTarget> remote;
  bool push = false;
  NetworkOptions net;
  // --files-from (file_list.h): what SRC's scan takes (a pull sends it to the server).
  std::shared_ptr<const FileList> file_list;
};

struct RunResult {
  RunStats stats;
  PlanTotals totals;
};

// Runs the mirror. Per-entry problems (both sides') land in `problems`; run-ending failures
// throw ktsync::Error. A real run that a deletion limit could refuse first compares the trees
// without changing anything (a dry run, shown nothing) and refuses (exit 25) before any
// change when a limit would be passed: always with --max-delete limits, and when the side
// holding DST asks for it (the first-mirror guard, deletion_gate.h: ExitCode::CompareFirst).
RunResult RunMirror(const RunSpec& run, Problems& problems, RunObserver& observer, TransferMeter* meter);

// One session of `ktsync serve` (--stdio, or one daemon client). Returns its exit code, which
// the client also gets as an Error frame when it is not 0.
int ServeSession(ByteStream& control, const ServerConfig& cfg);

// The run's exit code: 23/24 for problems, else 25 when a --max-delete limit stopped the
// deletions, else 0.
ExitCode RunExitCode(const Problems& problems, const RunStats& stats);

// The mapping from a spec to each stage.
TreeConfig MakeTreeConfig(const MirrorSpec& spec, const std::string& state_dir);
// The DST side applies extended attributes of the classes it may write; where its
// filesystem refuses them, the entries are noted in `unsupported_xattrs` (one warning at
// the end of the run, by the destination half).
ApplyOptions MakeApplyOptions(const MirrorSpec& spec, XattrLosses* unsupported_xattrs, const WriteLimits& limits = {});
DestOptions MakeDestOptions(const MirrorSpec& spec, std::string src_name, XattrLosses* unsupported_xattrs,
                            const WriteLimits& limits = {});

}  // namespace ktsync
