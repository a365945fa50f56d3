#include "mirror/local_source.h"

namespace ktsync {

LocalSource::LocalSource(TreeSide& side, Problems& problems, RunObserver& observer)
    : side_(side), problems_(problems), observer_(observer), scan_(side, problems, /*failures_only=*/false) {}

bool LocalSource::NextBatch(EntryBatch& out) {
  if (scan_.NextBatch(out)) return true;
  if (!ended_) {
    observer_.Scanned(TreeRole::Source, scan_.summary().entries);
    if (std::string w = SkippedMountsWarning(scan_.summary(), "SRC"); !w.empty()) observer_.Warn(w);
  }
  ended_ = true;
  return false;
}

void LocalSource::StartHashes(const std::vector<std::pair<int64_t, Entry*>>& items) {
  std::vector<Entry*> entries;
  entries.reserve(items.size());
  for (const auto& [index, e] : items) entries.push_back(e);
  side_.FillHashes(entries, problems_);
}

bool LocalSource::Finish(RunStats& stats) {
  StoreStats s = side_.store().stats();
  stats.hashed_src = s.hashed;
  stats.cache_hits_src = s.hits;
  side_.CommitStore();
  return false;
}

}  // namespace ktsync
