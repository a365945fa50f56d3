// The deletion gate: the one rule for whether a run deletes what SRC lacks, as a pure
// function of what is known when the deletions are due (after every file was moved and
// the source reported its last problem) and the options. A dry run asks it at the same
// point with the problems it knows (scan and hash errors), so it lists deletions exactly
// when the real run would make them. A real run with a limit that could refuse asks it
// first through a dry run (mirror/run.h), so a refusal changes nothing.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/mirror_spec.h"

namespace ktsync {

struct DeletionDecision {
  enum Verdict { Run, SkipErrors, SkipLimit } verdict = Run;
  std::string message;  // SkipLimit: the one-line reason and what to do (exit 25)
  bool run() const { return verdict == Run; }
};

// What the side holding DST knows of it when the deletions are due.
struct DestFacts {
  uint64_t entries = 0;          // counts the root, which is never deleted
  bool mirrored_before = false;  // a mirror into this root completed before (TreeSide::MirroredBefore)
  std::string name;              // names DST in the first-mirror refusal
};

// A DST that ktsync never mirrored into loses more than kFirstMirrorHandful entries and
// more than kFirstMirrorShare percent (manifest/mirror_spec.h) only with --force-delete.
// `errors`: a problem of any kind was recorded (an unreadable source directory looks exactly
// like a deleted one, so deleting on the strength of it could destroy the only good copy).
DeletionDecision DecideDeletions(bool errors, uint64_t to_delete, const DestFacts& dst, const DeleteLimits& limits);

}  // namespace ktsync
