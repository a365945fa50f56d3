// Per-entry failures that do not stop the run. The run's exit code is derived from them
// in one place (ExitCodeFor), and "no deletions after any error" reads HasErrors().
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/keep_budget.h"

namespace ktsync {

enum class ProblemKind { Failed, Vanished };

struct Problem {
  ProblemKind kind;
  std::string path;     // relative path (or host) the problem concerns
  std::string message;  // one line: cause and, when not obvious, what to do
};

// Thread-safe: senders, receivers and apply workers record into one shared list.
//
// Bounded: a peer (a daemon's client pushing refused entries with 4 KiB paths) can make a
// run meet any number of problems. The first kMaxKept, at most kMaxKeptBytes of paths and
// messages, are kept; the rest are counted, and Snapshot() ends with one line saying how
// many. HasErrors and ExitCodeFor count every problem, kept or not. 10000 lists any
// plausible run's problems whole (nobody reads further); 8 MiB is 10000 problems of ~800
// bytes, ~1000 of the largest (a 4 KiB path named in its message too). A server sends them
// as Reports: with its warnings (run.cpp) they fit what its client keeps
// (PeerEnd::kMaxReports, kMaxReportBytes), so the line counting the rest arrives.
class Problems {
 public:
  static constexpr size_t kMaxKept = 10000;
  static constexpr size_t kMaxKeptBytes = 8 << 20;

  void Fail(std::string path, std::string message);
  void Vanish(std::string path, std::string message);
  void Add(Problem p);
  // Every problem of `other`, its counted ones too (failures when `as_failures`).
  void AddAll(const Problems& other, bool as_failures = false);
  bool HasErrors() const;
  // The kept problems, then (when some were not kept) one that says how many were not: a
  // failure when any of them was one.
  std::vector<Problem> Snapshot() const;
  // Every problem recorded, kept or counted.
  uint64_t Count() const;
  // 0 when empty; 24 when every problem is a vanished source; otherwise 23.
  ExitCode ExitCodeFor() const;

 private:
  void AddLocked(Problem p);
  std::optional<Problem> DroppedLocked() const;

  mutable std::mutex mu_;
  std::vector<Problem> items_;
  KeepBudget budget_{kMaxKept, kMaxKeptBytes};
  bool dropped_failure_ = false;
  bool failed_ = false;  // any failure, kept or not
};

}  // namespace ktsync
