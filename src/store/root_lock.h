// RootLock: one ktsync run at a time mirrors into a given destination root.
//
// SQLite's own locking already keeps the hash cache consistent under concurrent runs; this
// lock is about the TREE: two runs writing one destination would race on every file. It is an
// exclusive flock(2) on "<db>.lock" next to the root's cache db (so it never lives in the
// tree). flock is tied to the open file description, so it is released when the process dies
// however it dies — no stale lock to clean up — and the fd is O_CLOEXEC so ssh and other
// children never inherit it. The holder writes its pid into the file for the error message.
#pragma once

#include <functional>
#include <string>

#include "util/unique_fd.h"

namespace ktsync {

class RootLock {
 public:
  RootLock() = default;  // holds nothing

  // Locks `root_abs_path` (canonicalized) using the lock file under `state_dir` ("" = the
  // default location). Throws Error(ExitCode::Locked) when another run holds it. When the lock
  // file cannot even be created (read-only home...), warns and returns an unheld lock: the
  // state dir is an optimization, and refusing to run over it would be worse.
  static RootLock Acquire(const std::string& root_abs_path, const std::string& state_dir,
                          const std::function<void(const std::string&)>& warn);

  // Same on an explicit lock file; `root` only names the tree in messages.
  static RootLock AcquireFile(const std::string& lock_path, const std::string& root,
                              const std::function<void(const std::string&)>& warn);

  bool held() const { return fd_.valid(); }
  const std::string& path() const { return path_; }

 private:
  RootLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

}  // namespace ktsync
