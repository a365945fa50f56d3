// The numbers each end of a network run reports in its Result, to and from RunStats: the
// source's side of them, and a push server's (the destination's) side with its plan totals.
#pragma once

#include "manifest/plan.h"
#include "transfer/wire.h"
#include "util/run_stats.h"

namespace ktsync {

Stats SourceStatsToWire(const RunStats& s);
void SourceStatsFromWire(const Stats& wire, RunStats& s);

Stats DestStatsToWire(const RunStats& s, const PlanTotals& t);
void DestStatsFromWire(const Stats& wire, RunStats& s, PlanTotals& t);

}  // namespace ktsync
