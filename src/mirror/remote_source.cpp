#include "mirror/remote_source.h"

#include "mirror/remote_stats.h"
#include "transfer/byte_io.h"

namespace ktsync {

RemoteSource::RemoteSource(SourceChannel& channel, Problems& problems, RunObserver& observer, std::string peer_name,
                           bool record_problems)
    : channel_(channel),
      problems_(problems),
      observer_(observer),
      peer_name_(std::move(peer_name)),
      record_problems_(record_problems) {}

bool RemoteSource::NextBatch(EntryBatch& out) {
  if (channel_.NextBatch(out)) {
    entries_ = out.first + static_cast<int64_t>(out.entries.size());
    return true;
  }
  if (!ended_) observer_.Scanned(TreeRole::Source, static_cast<uint64_t>(entries_));
  ended_ = true;
  return false;
}

void RemoteSource::StartHashes(const std::vector<std::pair<int64_t, Entry*>>& items) {
  hashing_ = items;
  std::vector<int64_t> indices;
  indices.reserve(items.size());
  for (const auto& [index, e] : items) indices.push_back(index);
  channel_.RequestHashes(indices);
}

void RemoteSource::FinishHashes() {
  std::vector<HashReplyItem> replies = channel_.AwaitHashes();
  if (replies.size() != hashing_.size()) ThrowProtocolError("hash replies do not match the request");
  for (size_t k = 0; k < replies.size(); ++k) hashing_[k].second->hash = replies[k].hash;  // order checked by the channel
  hashing_.clear();
}

bool RemoteSource::Finish(RunStats& stats) {
  PeerEnd end = channel_.AwaitEnd();
  uint64_t problems =
      RecordPeerReports(end, TreeRole::Source, peer_name_, record_problems_ ? &problems_ : nullptr, observer_, stats);
  // A discarded file the source says nothing about would be lost silently.
  if (stats.files_discarded > problems) {
    problems_.Fail("", peer_name_ + ": " + std::to_string(stats.files_discarded - problems) +
                           " files were discarded by the source without a reason; they are not mirrored");
  }
  SourceStatsFromWire(end.stats, stats);
  return problems > 0 && !record_problems_;
}

}  // namespace ktsync
