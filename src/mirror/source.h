// Source: what the destination half of a mirror needs from wherever SRC is: its entries
// in path order (EntrySource), content hashes of the entries the planner cannot judge
// otherwise, and, at the end, its last word. Its file data is the Mover's business.
//
// LocalSource scans a tree on this host; RemoteSource asks a peer over the wire.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "manifest/diff.h"
#include "util/run_stats.h"

namespace ktsync {

class Source : public EntrySource {
 public:
  // Fills Entry::hash of these entries (the planner's copies, by SRC ordinal) where it can;
  // FinishHashes returns once they are filled. Between the two the caller hashes its own
  // side, so both ends read at once.
  virtual void StartHashes(const std::vector<std::pair<int64_t, Entry*>>& items) = 0;
  virtual void FinishHashes() = 0;
  // Entries before ordinal `below` will never be asked about again; `before_wait`: the
  // caller is about to wait for a source that may be starved (it then gets any room).
  virtual void Release(int64_t /*below*/, bool /*before_wait*/) {}
  // True when NextBatch would wait for entries the source may not send until more are
  // released (a remote source out of credit): the caller must first decide what it holds
  // back, or both ends wait on each other.
  virtual bool Starved() { return false; }
  // After the last file: waits for the source's last word and adds its side's numbers to
  // `stats`. True when the source had problems the run's Problems do not hold (the
  // deletion gate must still see them).
  virtual bool Finish(RunStats& stats) = 0;
};

}  // namespace ktsync
