// The deletion gate: the one rule for whether a run deletes what SRC lacks, as a pure
// function of what is known when the deletions are due (after every file was moved and
// the source reported its last problem) and the options. A dry run asks it at the same
// point with the problems it knows (scan and hash errors), so it lists deletions exactly
// when the real run would make them.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/mirror_spec.h"

namespace ktsync {

struct DeletionDecision {
  enum Verdict { Run, SkipErrors, SkipLimit } verdict = Run;
  std::string message;  // SkipLimit: the one-line reason (exit 25)
  bool run() const { return verdict == Run; }
};

// `errors`: a problem of any kind was recorded (an unreadable source directory looks exactly
// like a deleted one, so deleting on the strength of it could destroy the only good copy).
// `dst_entries` counts the root, which is never deleted.
DeletionDecision DecideDeletions(bool errors, uint64_t to_delete, uint64_t dst_entries, const DeleteLimits& limits);

}  // namespace ktsync
