#include "util/problems.h"

namespace ktsync {

void Problems::Fail(std::string path, std::string message) {
  std::lock_guard lock(mu_);
  items_.push_back({ProblemKind::Failed, std::move(path), std::move(message)});
}

void Problems::Vanish(std::string path, std::string message) {
  std::lock_guard lock(mu_);
  items_.push_back({ProblemKind::Vanished, std::move(path), std::move(message)});
}

void Problems::Add(Problem p) {
  std::lock_guard lock(mu_);
  items_.push_back(std::move(p));
}

bool Problems::HasErrors() const {
  std::lock_guard lock(mu_);
  return !items_.empty();
}

std::vector<Problem> Problems::Snapshot() const {
  std::lock_guard lock(mu_);
  return items_;
}

ExitCode Problems::ExitCodeFor() const {
  std::lock_guard lock(mu_);
  if (items_.empty()) return ExitCode::Ok;
  for (const auto& p : items_)
    if (p.kind == ProblemKind::Failed) return ExitCode::Partial;
  return ExitCode::Vanished;
}

}  // namespace ktsync
