// ApplyAction: carries out one planned change on the destination through a DestTree. The
// order of actions is the caller's business (mirror/applier.h follows plan.h's rules); file
// data (SendFile) is not handled here but by whoever moves data (a local copy, a receiver).
#pragma once

#include <string>
#include <vector>

#include "apply/dest_tree.h"
#include "apply/metadata.h"
#include "manifest/plan.h"

namespace ktsync {

struct ApplyOptions {
  MetaOptions meta;
  bool fsync = false;
};

// Any kind but SendFile. Throws Error naming the path when the change fails (the caller
// records it as that entry's problem and goes on).
void ApplyAction(const Action& a, DestTree& tree, const ApplyOptions& opts);

// Unlinks temps left by an interrupted run (paths found by the scanner). Anything whose last
// component does not start with kTempPrefix, or that is not a safe path, is left alone.
// Best effort: returns how many were removed (or already gone).
size_t RemoveStaleTemps(DestTree& tree, const std::vector<std::string>& rel_paths);

}  // namespace ktsync
