#include "cli/mirror_run.h"

namespace ktsync {

double PhaseClock::Lap() {
  auto now = Clock::now();
  double s = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  return s;
}

double PhaseClock::Total() { return std::chrono::duration<double>(Clock::now() - start_).count(); }

TreeConfig MakeTreeConfig(const MirrorOptions& o) {
  TreeConfig cfg;
  cfg.state_dir = o.state_dir;
  cfg.one_file_system = o.one_file_system;
  cfg.hard_links = o.plan.hard_links;
  for (const auto& [include, pattern] : o.filters) cfg.filters.push_back({include, pattern});
  return cfg;
}

ApplyOptions MakeApplyOptions(const MirrorOptions& o) {
  ApplyOptions ao;
  ao.meta.perms = o.plan.perms;
  ao.meta.times = o.plan.times;
  ao.meta.owner = o.plan.owner;
  ao.meta.group = o.plan.group;
  ao.fsync = o.fsync;
  ao.delete_on_error = o.delete_on_error;
  return ao;
}

void FillScanStats(const Manifest& src, const Manifest& dst, uint64_t src_bytes, const StoreStats& src_store,
                   const StoreStats& dst_store, RunStats& stats) {
  stats.src_entries = src.size();
  stats.dst_entries = dst.size();
  stats.src_file_bytes = src_bytes;
  stats.hashed_src = src_store.hashed;
  stats.hashed_dst = dst_store.hashed;
  stats.cache_hits_src = src_store.hits;
  stats.cache_hits_dst = dst_store.hits;
}

int FinishRun(Reporter& rep, const Plan& plan, const RunStats& stats, const Problems& problems) {
  rep.Problems(problems);
  int code = static_cast<int>(problems.ExitCodeFor());
  rep.Summary(plan, stats, code);
  return code;
}

}  // namespace ktsync
