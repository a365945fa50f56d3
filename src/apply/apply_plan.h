// Plan executor: turns a Plan into destination changes through one DestTree.
//
// Used by the local mirror (ApplyPlan, with a FileSupplier that copies) and by the network
// receiver, which drives file data itself and calls the phase functions around it:
//   ApplyBeforeData  RemoveForType, MkDir
//   (file data)      SendFile actions, supplied by the caller
//   ApplyNonData     Symlink, Special, MetaOnly
//   ApplyAfterData   HardLink; Delete only when no problem was recorded (or delete_on_error);
//                    DirMeta deepest first, last, so nothing later disturbs a dir's mtime.
// Within a phase actions run in plan order. A failing action becomes Problems::Fail(path,
// message) and the run goes on; nothing here throws for a per-entry failure.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "apply/dest_tree.h"
#include "apply/metadata.h"
#include "manifest/entry.h"
#include "manifest/plan.h"
#include "util/problems.h"
#include "util/run_stats.h"

namespace ktsync {

struct ApplyOptions {
  MetaOptions meta;
  bool fsync = false;
  bool delete_on_error = false;  // --delete even after errors (rsync's --ignore-errors)
};

// Shared by concurrent workers, hence atomics.
struct ApplyCounters {
  std::atomic<uint64_t> files_written{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> deleted{0};       // Delete + RemoveForType
  std::atomic<uint64_t> meta_fixed{0};    // MetaOnly + DirMeta
  std::atomic<uint64_t> created_other{0}; // MkDir, Symlink, Special, HardLink
};

class FileSupplier {
 public:
  virtual ~FileSupplier() = default;
  // Called for each SendFile action in plan order by ApplyPlan. Records its own problems;
  // an Error thrown out of it is recorded as a failure of that path.
  virtual void Supply(const Action& action, const Entry& src_entry) = 0;
};

struct ApplyResult {
  // Delete actions were skipped because problems were recorded (not itself a problem; the
  // CLI tells the user "deletions skipped because of errors").
  bool deletes_skipped = false;
};

void ApplyBeforeData(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                     const ApplyOptions& opts, Problems& problems, ApplyCounters& counters);
void ApplyNonData(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                  const ApplyOptions& opts, Problems& problems, ApplyCounters& counters);
ApplyResult ApplyAfterData(const Plan& plan, const Manifest& src, const Manifest& dst,
                           DestTree& tree, const ApplyOptions& opts, Problems& problems,
                           ApplyCounters& counters);

// All phases in order; SendFile, Symlink, Special and MetaOnly interleave in plan order.
ApplyResult ApplyPlan(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                      FileSupplier& supplier, const ApplyOptions& opts, Problems& problems,
                      ApplyCounters& counters);

// Unlinks temps left by an interrupted run (paths found by the scanner). Anything whose last
// component does not start with kTempPrefix, or that is not a safe path, is left alone.
// Best effort: returns how many were removed (or already gone).
// Copies what the apply step did into a run's summary.
void AddApplyStats(const ApplyCounters& counters, const ApplyResult& result, RunStats& stats);

size_t RemoveStaleTemps(DestTree& tree, const std::vector<std::string>& rel_paths);

}  // namespace ktsync
