// A receiver's check of a plan that came over the wire (push): pure, no I/O. The plan's
// indices were range-checked by the decoder; this checks that each action makes sense for
// the entries it names, so a hostile client cannot, say, "delete" by naming a path that is
// not in this side's own manifest, or send data for a directory.
#pragma once

#include "manifest/plan.h"

namespace ktsync {

// Throws Error(ExitCode::StreamData) naming the first inconsistent action.
void CheckReceivedPlan(const Plan& plan, const Manifest& src, const Manifest& dst);

}  // namespace ktsync
