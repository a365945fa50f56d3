#include "apply/source_read.h"

namespace ktsync {

SourceState SourceState::Of(const struct stat& st) {
  return {S_ISREG(st.st_mode), static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size), Timestamp::Of(st.st_mtim), Timestamp::Of(st.st_ctim)};
}

OpenVerdict JudgeOpen(const Entry& listed, const SourceState& now, bool skip_changing) {
  if (!now.regular) return OpenVerdict::Replaced;
  if (listed.ino != 0 && (now.ino != listed.ino || now.dev != listed.dev)) return OpenVerdict::Replaced;
  if (now.size == listed.size && now.mtime == listed.mtime) return OpenVerdict::AsListed;
  return skip_changing ? OpenVerdict::Changed : OpenVerdict::Restated;
}

ReadVerdict JudgeRead(const SourceState& before, const SourceState& after, uint64_t bytes_read, int attempt,
                      bool skip_changing) {
  bool full = bytes_read == before.size;
  if (full && after == before) return ReadVerdict::Consistent;
  if (skip_changing) return ReadVerdict::Dropped;
  if (attempt < kMaxReadAttempts) return ReadVerdict::Retry;
  return full ? ReadVerdict::KeptChanged : ReadVerdict::Dropped;
}

std::string KeptChangedMessage(const std::string& path) {
  return path + ": changed while being read, " + std::to_string(kMaxReadAttempts) +
         " times; kept the last full read (the next run updates it)";
}

std::string NotCopiedMessage(const std::string& path, OpenVerdict v) {
  return path + (v == OpenVerdict::Replaced ? ": replaced since scan" : ": changed since scan") +
         "; not copied (the next run picks it up)";
}

Entry AsRead(const Entry& listed, const SourceState& before) {
  Entry e = listed;
  if (e.size != before.size || !(e.mtime == before.mtime)) {
    e.size = before.size;
    e.mtime = before.mtime;
    e.hash.reset();  // the listing's hash (if any) is of other content
  }
  return e;
}

}  // namespace ktsync
