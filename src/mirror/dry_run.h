// DryRunMover: the mover of --dry-run. It changes nothing: every change "succeeds" at once,
// so the Applier reports the very plan a real run would carry out, in the same order and
// behind the same deletion gate (ninja's DryRunCommandRunner).
#pragma once

#include "mirror/mover.h"

namespace ktsync {

class DryRunMover final : public Mover {
 public:
  bool dry() const override { return true; }
  void Apply(const Action&) override {}
  void Fetch(Action a, uint64_t seq, FileDoneSink& done) override { done.FileDone(seq, a, true); }
  void Drain() override {}
};

}  // namespace ktsync
