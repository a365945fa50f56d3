#include "mirror/local_copier.h"

#include <unistd.h>

#include "apply/local_copy.h"

namespace ktsync {

LocalCopier::LocalCopier(TreeSide& src, TreeSide& dst, const CopyOptions& opts, Problems& problems,
                         TransferMeter* meter, uint64_t bwlimit)
    : src_(src),
      dst_(dst),
      opts_(opts),
      problems_(problems),
      meter_(meter),
      limiter_(bwlimit),
      tree_(UniqueFd(::dup(dst.root_fd()))),
      queue_(kQueued, [](const Job& j) { return ReadAheadFile{j.action.entry.path, j.action.entry.size}; }) {}

LocalCopier::~LocalCopier() { Abort(); }

void LocalCopier::Abort() {
  handing_.clear();
  queue_.Close(/*discard=*/true);
  for (auto& t : workers_) t.join();
  workers_.clear();
  ahead_.reset();
}

void LocalCopier::Apply(const Action& a) { ApplyAction(a, tree_, opts_.apply); }

void LocalCopier::Fetch(Action a, uint64_t seq, FileDoneSink& done) {
  if (workers_.empty()) {  // a run with nothing to copy starts no thread
    ahead_.emplace(src_.root_fd(), queue_, true, src_.follows_links());
    for (int i = 0; i < kWorkers; ++i) workers_.emplace_back([this] { Work(); });
  }
  handing_bytes_ += a.entry.size;
  handing_.push_back(Job{std::move(a), seq, &done});
  if (handing_.size() >= kGroupItems || handing_bytes_ >= kGroupBytes) Flush();
}

void LocalCopier::Flush() {
  queue_.PushAll(handing_);
  handing_bytes_ = 0;
}

void LocalCopier::Drain() {
  Flush();
  queue_.Close();
  for (auto& t : workers_) t.join();
  workers_.clear();
  ahead_.reset();
}

void LocalCopier::Work() {
  DestTree mine = tree_.Clone();
  std::vector<Job> jobs;
  while (queue_.PopSome(jobs)) {
    for (Job& job : jobs) {
      const Entry& e = job.action.entry;
      CopyResult r = CopyLocalFile(src_.root_fd(), e, mine, opts_, problems_);
      if (r.ok) {
        if (r.source) src_.store().Record(e.path, *r.source, r.hash);
        dst_.store().Record(e.path, r.info, r.hash);
        if (meter_) meter_->AddBytes(e.size);
        limiter_.Acquire(e.size);
      }
      job.done->FileDone(job.seq, job.action, r.ok);
    }
  }
}

}  // namespace ktsync
