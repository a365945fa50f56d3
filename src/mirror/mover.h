// Mover: where planned changes take effect. The only part of a mirror that differs between a
// local copy (LocalCopier), a network receiver (Receiver) and a dry run (DryRunMover, which
// does nothing: the same plan, only reported). The Applier (applier.h) decides the order;
// the mover carries each change out.
#pragma once

#include <cstdint>

#include "manifest/plan.h"

namespace ktsync {

// Told when a fetched file is done, from any thread, exactly once per Fetch.
class FileDoneSink {
 public:
  virtual ~FileDoneSink() = default;
  // `ok`: the file is committed at DST (otherwise its problem was recorded, or the run ends).
  virtual void FileDone(uint64_t seq, const Action& a, bool ok) = 0;
};

class Mover {
 public:
  virtual ~Mover() = default;
  virtual bool dry() const { return false; }
  // Any change but SendFile, now, on the caller's thread. Throws Error for a failure of this
  // entry (recorded as its problem); the run goes on.
  virtual void Apply(const Action& a) = 0;
  // SendFile: starts moving the file's data; `done` hears of it later. May block while too
  // many files are in flight. Throws Error when the run cannot go on (a lost peer).
  virtual void Fetch(Action a, uint64_t seq, FileDoneSink& done) = 0;
  // Sends what is queued for a peer: the caller is about to wait.
  virtual void Flush() {}
  // Waits until every fetched file is done; rethrows a run-ending error of the data path.
  virtual void Drain() = 0;
  // The run failed: stops moving data and joins every thread of the mover, so nothing calls
  // a FileDoneSink after this returns. No-op when nothing runs.
  virtual void Abort() {}
};

}  // namespace ktsync
