#include "util/problems.h"

namespace ktsync {

void Problems::Fail(std::string path, std::string message) {
  Add({ProblemKind::Failed, std::move(path), std::move(message)});
}

void Problems::Vanish(std::string path, std::string message) {
  Add({ProblemKind::Vanished, std::move(path), std::move(message)});
}

void Problems::Add(Problem p) {
  std::lock_guard lock(mu_);
  AddLocked(std::move(p));
}

void Problems::AddLocked(Problem p) {
  const bool failed = p.kind == ProblemKind::Failed;
  failed_ |= failed;
  if (budget_.Admit(p.path.size() + p.message.size())) {
    items_.push_back(std::move(p));
  } else {
    dropped_failure_ |= failed;
  }
}

void Problems::AddAll(const Problems& other, bool as_failures) {
  if (&other == this) return;
  std::vector<Problem> items;
  uint64_t dropped;
  bool dropped_failure;
  {
    std::lock_guard lock(other.mu_);
    items = other.items_;
    dropped = other.budget_.dropped();
    dropped_failure = other.dropped_failure_;
  }
  std::lock_guard lock(mu_);
  for (Problem& p : items) {
    if (as_failures) p.kind = ProblemKind::Failed;
    AddLocked(std::move(p));
  }
  budget_.CountDropped(dropped);
  if (dropped > 0) {
    dropped_failure_ |= dropped_failure || as_failures;
    failed_ |= dropped_failure_;
  }
}

bool Problems::HasErrors() const {
  std::lock_guard lock(mu_);
  return !items_.empty() || budget_.dropped() > 0;
}

std::optional<Problem> Problems::DroppedLocked() const {
  if (budget_.dropped() == 0) return std::nullopt;
  return Problem{dropped_failure_ ? ProblemKind::Failed : ProblemKind::Vanished, "",
                 budget_.Unlisted("problems") + " (a run lists at most " +
                     std::to_string(kMaxKept) + ", " + std::to_string(kMaxKeptBytes >> 20) + " MiB of them)"};
}

std::vector<Problem> Problems::Snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Problem> out = items_;
  if (std::optional<Problem> more = DroppedLocked()) out.push_back(std::move(*more));
  return out;
}

uint64_t Problems::Count() const {
  std::lock_guard lock(mu_);
  return items_.size() + budget_.dropped();
}

ExitCode Problems::ExitCodeFor() const {
  std::lock_guard lock(mu_);
  if (items_.empty() && budget_.dropped() == 0) return ExitCode::Ok;
  return failed_ ? ExitCode::Partial : ExitCode::Vanished;
}

}  // namespace ktsync
