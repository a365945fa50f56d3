// BackgroundScan: scans one opened TreeSide on its own thread while the caller does
// something else: the local mirror scans DST while it scans SRC; a client scans its side
// while it logs in to the remote and receives the remote's manifest.
#pragma once

#include <atomic>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "mirror/tree_side.h"
#include "util/problems.h"

namespace ktsync {

class BackgroundScan {
 public:
  explicit BackgroundScan(TreeSide side);
  // Abandoned (the caller failed first): the walk stops at its next entry and is joined,
  // so an early error is reported without waiting for a large tree's scan.
  ~BackgroundScan();
  BackgroundScan(const BackgroundScan&) = delete;
  BackgroundScan& operator=(const BackgroundScan&) = delete;

  // Waits for the scan; rethrows its error. Returns the scanned side; `problems` receives
  // the entries it could not read. Call once.
  TreeSide Join(std::vector<Problem>& problems);

 private:
  std::optional<TreeSide> side_;
  Problems problems_;
  std::exception_ptr error_;
  std::atomic<bool> cancel_{false};
  std::thread thread_;  // last: starts once everything above is set
};

}  // namespace ktsync
