// What each end of a network run tells the other at its end, to and from what the run
// keeps: its problems as Reports, and in its Result its numbers (the source's side of them,
// or a push server's, the destination's, with its plan totals).
#pragma once

#include <string>

#include "manifest/plan.h"
#include "mirror/run_observer.h"
#include "transfer/session_messages.h"
#include "transfer/wire.h"
#include "util/problems.h"
#include "util/run_stats.h"

namespace ktsync {

SessionReport ReportOf(const Problem& p);

// Records a peer's Reports: its notes in `stats` (how it encrypted, `peer_role` telling
// which way its data went; a --max-delete limit that held), its warnings with `observer`
// and, unless `problems` is null, its problems; warnings and problems prefixed by `peer`.
// Returns how many problems it reported, the dropped ones included.
uint64_t RecordPeerReports(const PeerEnd& end, TreeRole peer_role, const std::string& peer, Problems* problems,
                           RunObserver& observer, RunStats& stats);

Stats SourceStatsToWire(const RunStats& s);
void SourceStatsFromWire(const Stats& wire, RunStats& s);

Stats DestStatsToWire(const RunStats& s, const PlanTotals& t);
// A write-only daemon's Result: only what concerns the client's own files (what was sent,
// and when), nothing that measures what else the tree holds (entries, deletions, fixes,
// the time its scan, hashing and planning took).
Stats WithoutDestinationCounts(Stats s);
void DestStatsFromWire(const Stats& wire, RunStats& s, PlanTotals& t);

}  // namespace ktsync
