// Per-entry failures that do not stop the run. The run's exit code is derived from them
// in one place (ExitCodeFor), and "no deletions after any error" reads HasErrors().
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {

enum class ProblemKind { Failed, Vanished };

struct Problem {
  ProblemKind kind;
  std::string path;     // relative path (or host) the problem concerns
  std::string message;  // one line: cause and, when not obvious, what to do
};

// Thread-safe: senders, receivers and apply workers record into one shared list.
class Problems {
 public:
  void Fail(std::string path, std::string message);
  void Vanish(std::string path, std::string message);
  void Add(Problem p);
  bool HasErrors() const;
  std::vector<Problem> Snapshot() const;
  // 0 when empty; 24 when every problem is a vanished source; otherwise 23.
  ExitCode ExitCodeFor() const;

 private:
  mutable std::mutex mu_;
  std::vector<Problem> items_;
};

}  // namespace ktsync
