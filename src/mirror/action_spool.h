// ActionSpool: a Spool (store/spool.h) of Actions that wait for the end of a run or of a
// retyped subtree: deletions, removals, the DirMeta of directories that lose children.
// Only what those kinds use is kept (no hash, no local identity).
#pragma once

#include <functional>
#include <string>

#include "manifest/plan.h"
#include "store/spool.h"

namespace ktsync {

class ActionSpool {
 public:
  explicit ActionSpool(std::string dir) : spool_(std::move(dir)) {}
  void Append(const Action& a);
  // Last appended first.
  void ForEachReversed(const std::function<void(Action)>& fn);
  uint64_t count() const { return spool_.count(); }
  bool empty() const { return spool_.empty(); }
  void Clear() { spool_.Clear(); }

 private:
  Spool spool_;
  std::string buf_;
};

}  // namespace ktsync
