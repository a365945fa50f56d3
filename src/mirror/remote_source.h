// RemoteSource: SRC held by the peer of a network run (a pull's server, a push's client),
// as the destination half sees it through a SourceChannel.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mirror/run_observer.h"
#include "mirror/source.h"
#include "transfer/source_channel.h"
#include "util/problems.h"

namespace ktsync {

class RemoteSource final : public Source {
 public:
  // `peer_name` prefixes the source's problems. With `record_problems` they go to
  // `problems` (a pull's client shows them); a push's server only lets them close the
  // deletion gate: its client has them already.
  RemoteSource(SourceChannel& channel, Problems& problems, RunObserver& observer, std::string peer_name,
               bool record_problems);

  bool NextBatch(EntryBatch& out) override;
  void StartHashes(const std::vector<std::pair<int64_t, Entry*>>& items) override;
  void FinishHashes() override;
  void Release(int64_t below, bool before_wait) override { channel_.Release(below, before_wait); }
  bool Starved() override { return channel_.Starved(); }
  bool Finish(RunStats& stats) override;

 private:
  SourceChannel& channel_;
  Problems& problems_;
  RunObserver& observer_;
  const std::string peer_name_;
  const bool record_problems_;
  std::vector<std::pair<int64_t, Entry*>> hashing_;
  int64_t entries_ = 0;
  bool ended_ = false;
};

}  // namespace ktsync
