#include "mirror/applier.h"

#include <cerrno>
#include <utility>

#include "util/error.h"

namespace ktsync {

Applier::Applier(Mover& mover, Problems& problems, RunObserver& observer, TransferMeter* meter,
                 const std::string& spool_dir)
    : mover_(mover),
      problems_(problems),
      observer_(observer),
      meter_(meter),
      removals_(spool_dir),
      deletes_(spool_dir),
      after_deletes_(spool_dir) {}

void Applier::Apply(Action a) {
  RunReadyDeferred();
  switch (a.kind) {
    case ActionKind::SendFile: {
      uint64_t seq = next_seq_++;
      {
        std::lock_guard lock(mu_);
        in_flight_.insert(seq);
      }
      if (meter_) meter_->AddPlanned(a.entry.size);
      mover_.Fetch(std::move(a), seq, *this);
      return;
    }
    case ActionKind::HardLink:
    case ActionKind::DirMeta: {
      bool now;
      {
        std::lock_guard lock(mu_);
        now = deferred_.empty() && FilesDoneThrough(next_seq_ - 1);
      }
      if (now) return Run(a);
      deferred_bytes_ += HeldBytes(a.entry);
      deferred_.push_back({std::move(a), next_seq_ - 1});
      if (deferred_.size() < kMaxDeferred && deferred_bytes_ < kMaxDeferredBytes) return;
      mover_.Flush();
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return FilesDoneThrough(deferred_.front().after); });
      lock.unlock();
      return RunReadyDeferred();
    }
    default:
      return Run(a);
  }
}

void Applier::Remove(Action a) { removals_.Append(a); }

void Applier::EndRemoval() {
  removals_.ForEachReversed([this](Action a) { Run(a); });
  removals_.Clear();
}

void Applier::Delete(Action a) { deletes_.Append(a); }

void Applier::Keep(Action a) { kept_dirs_.insert(std::move(a.entry.path)); }

void Applier::AfterDeletes(Action a) { after_deletes_.Append(a); }

void Applier::FileDone(uint64_t seq, const Action& a, bool ok) {
  if (ok) {
    if (!mover_.dry()) {
      ++counts_.files_written;
      counts_.bytes_written += a.entry.size;
    }
    if (meter_) meter_->AddFile();
    Report(a);
  }
  std::lock_guard lock(mu_);
  if (!ok && a.entry.nlink > 1) failed_leaders_.insert(a.entry.path);
  in_flight_.erase(seq);
  cv_.notify_all();
}

// A link to a leader whose copy failed would make it another name of whatever DST still
// holds there (its old file): the follower stays as it is instead.
bool Applier::LeaderFailed(const std::string& leader) {
  std::lock_guard lock(mu_);
  return failed_leaders_.contains(leader);
}

bool Applier::FilesDoneThrough(uint64_t seq) const { return in_flight_.empty() || *in_flight_.begin() > seq; }

void Applier::RunReadyDeferred() {
  while (!deferred_.empty()) {
    {
      std::lock_guard lock(mu_);
      if (!FilesDoneThrough(deferred_.front().after)) return;
    }
    Action a = std::move(deferred_.front().action);
    deferred_.pop_front();
    deferred_bytes_ -= HeldBytes(a.entry);
    Run(a);
  }
}

void Applier::Drain() {
  mover_.Drain();  // every file is done when it returns: it knows how each one ends
  RunReadyDeferred();
}

void Applier::Finish(const DeletionDecision& gate) {
  if (!deletes_.empty()) {
    if (gate.run()) {
      deletes_.ForEachReversed([this](Action a) { Run(a); });
    } else {
      counts_.deletes_skipped = true;
    }
    deletes_.Clear();
  }
  after_deletes_.ForEachReversed([this](Action a) { Run(a); });
  after_deletes_.Clear();
}

void Applier::Run(const Action& a) {
  if (a.kind == ActionKind::Delete && kept_dirs_.erase(a.entry.path)) {
    observer_.Warn("kept directory " + a.entry.path + ": it holds entries the filter rules exclude");
    return;
  }
  try {
    if (a.kind == ActionKind::HardLink && LeaderFailed(a.leader))
      throw Error(ExitCode::Partial, "not linked to " + a.leader + ", which could not be copied");
    mover_.Apply(a);
  } catch (const SysError& e) {
    // rsync's "cannot delete non-empty directory": the planner keeps those that hold
    // protected entries (Keep), so what is in it now was made since DST was listed. Kept
    // and said, not an error.
    if (a.kind == ActionKind::Delete && a.entry.IsDir() && e.err() == ENOTEMPTY) {
      observer_.Warn("kept directory " + a.entry.path + ": it holds entries made since it was listed");
      return;
    }
    problems_.Fail(a.entry.path, e.what());
    return;
  } catch (const Error& e) {
    problems_.Fail(a.entry.path, e.what());
    return;
  }
  if (!mover_.dry()) {
    switch (a.kind) {
      case ActionKind::RemoveForType:
      case ActionKind::Delete: ++counts_.deleted; break;
      case ActionKind::MetaOnly:
      case ActionKind::DirMeta: ++counts_.meta_fixed; break;
      case ActionKind::MkDir:
      case ActionKind::Symlink:
      case ActionKind::Special:
      case ActionKind::HardLink: ++counts_.created_other; break;
      case ActionKind::SendFile: break;
    }
  }
  Report(a);
}

void Applier::Report(const Action& a) {
  if (observer_.WantsItems()) observer_.Item(ViewOf(a));
}

}  // namespace ktsync
