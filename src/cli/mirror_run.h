// Pieces shared by the local and the remote mirror runs: turning options into the
// configuration of each stage, timing phases, and ending a run with one exit code.
#pragma once

#include <chrono>

#include "apply/apply_plan.h"
#include "cli/options.h"
#include "cli/output.h"
#include "mirror/tree_side.h"
#include "store/hash_store.h"

namespace ktsync {

class PhaseClock {
 public:
  double Lap();    // seconds since the previous Lap (or construction)
  double Total();  // seconds since construction

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = start_;
};

TreeConfig MakeTreeConfig(const MirrorOptions& o);
ApplyOptions MakeApplyOptions(const MirrorOptions& o);
void FillScanStats(const Manifest& src, const Manifest& dst, uint64_t src_bytes, const StoreStats& src_store,
                   const StoreStats& dst_store, RunStats& stats);
// Prints problems and the summary; returns the exit code (0, 23 or 24).
int FinishRun(Reporter& rep, const Plan& plan, const RunStats& stats, const Problems& problems);

int RunLocalMirror(const MirrorOptions& o, Reporter& rep);
int RunRemoteMirror(const MirrorOptions& o, Reporter& rep);

}  // namespace ktsync
