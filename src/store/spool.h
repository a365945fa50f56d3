// Spool: records that must wait until the end of a run (deletions, the removals of a
// retyped directory's subtree, directory metadata set after deletions), replayed last
// first. Memory stays bounded however many there are: beyond kMemoryBytes the records go
// to an unlinked temp file (O_TMPFILE: nothing is left behind by a crash), in `dir`.
//
// A record is opaque bytes of at most kMaxRecordBytes. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "util/unique_fd.h"

namespace ktsync {

class Spool {
 public:
  static constexpr size_t kMemoryBytes = 1 << 20;
  static constexpr size_t kMaxRecordBytes = 1 << 20;

  // `dir`: where a temp file goes once memory is not enough ("" = $TMPDIR or /tmp).
  explicit Spool(std::string dir);

  void Append(std::string_view record);  // throws SysError when the temp file cannot be written
  uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Calls fn with each record, the last appended first. The view is valid during the call.
  void ForEachReversed(const std::function<void(std::string_view)>& fn);
  void Clear();

 private:
  void Spill();
  UniqueFd OpenTemp() const;

  std::string dir_;
  std::string mem_;        // newest records, each followed by its u32 length
  UniqueFd file_;          // older records, same layout
  uint64_t file_bytes_ = 0;
  uint64_t count_ = 0;
};

}  // namespace ktsync
