// The destination half of a mirror: the one pipeline every run goes through on the side that
// holds DST (a local mirror, a pull's client, a push's server):
//
//   scan DST ─┐
//             ├─ merge ─ plan ─ (content hashes, in batches) ─ apply via the Mover ─ finish
//   SRC ──────┘                                                 (files while scanning)
//
// Both trees stream in; nothing holds a whole listing, and the first file moves as soon as
// it is planned. Finish: every file done, the source's last problems in, the guards and
// the deletion gate decide, deletions and the directory times that wait for them, caches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "manifest/dest_tweaks.h"
#include "manifest/plan.h"
#include "manifest/write_limits.h"
#include "mirror/deletion_gate.h"
#include "mirror/mover.h"
#include "mirror/run_observer.h"
#include "mirror/scan_stream.h"
#include "mirror/source.h"
#include "mirror/tree_side.h"
#include "util/problems.h"
#include "util/run_stats.h"
#include "util/transfer_meter.h"

namespace ktsync {

struct DestOptions {
  PlanOptions plan;
  DeleteLimits deletes;
  size_t max_link_leaders = SIZE_MAX;  // bounded when a peer sends SRC (planner.h)
  std::string src_name;                // names SRC in the empty-source refusal
  // Entries whose attributes DST's filesystem refused (the movers note them): warned of
  // at the end, like those the planner found unwritable here.
  const XattrLosses* unsupported_xattrs = nullptr;
  WriteLimits limits;  // a daemon's: checked on every SRC entry before it is planned
  bool fake_super = false;  // a daemon's --fake-super: symlink owners cannot be kept
  DestTweaks tweaks;        // --chmod, --chown, --safe-links: applied to SRC entries before `limits`
};

// `dst_scan` lists `dst` (the caller starts it early: it overlaps the other side's start).
// Per-entry problems (both halves') land in `problems`; run-ending failures throw
// ktsync::Error. Returns the plan's totals; `stats` gets this side's numbers.
PlanTotals RunDestHalf(TreeSide& dst, ScanStream& dst_scan, Source& src, Mover& mover, const DestOptions& opts,
                       Problems& problems, RunObserver& observer, TransferMeter* meter, RunStats& stats);

}  // namespace ktsync
