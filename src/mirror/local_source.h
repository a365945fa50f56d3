// LocalSource: SRC on this host: a ScanStream of it, hashed on demand through its cache.
#pragma once

#include <functional>

#include "mirror/run_observer.h"
#include "mirror/scan_stream.h"
#include "mirror/source.h"
#include "mirror/tree_side.h"

namespace ktsync {

class LocalSource final : public Source {
 public:
  LocalSource(TreeSide& side, Problems& problems, RunObserver& observer);

  bool NextBatch(EntryBatch& out) override;
  void StartHashes(const std::vector<std::pair<int64_t, Entry*>>& items) override;
  void FinishHashes() override {}
  bool Finish(RunStats& stats) override;  // its problems are the run's own

 private:
  TreeSide& side_;
  Problems& problems_;
  RunObserver& observer_;
  ScanStream scan_;
  bool ended_ = false;
};

}  // namespace ktsync
