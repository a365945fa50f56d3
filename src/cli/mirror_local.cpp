// Local mirror: both trees on this host. scan (both, in parallel) -> hashes the diff needs
// -> plan -> guards -> print (dry run stops here) -> apply, copying file data locally.
#include <unistd.h>

#include "apply/apply_plan.h"
#include "apply/local_copy.h"
#include "cli/mirror_run.h"
#include "cli/progress.h"
#include "mirror/background_scan.h"
#include "mirror/guards.h"
#include "mirror/tree_side.h"
#include "store/state_dir.h"
#include "transfer/rate_limiter.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr int kCopyWorkers = 2;  // the machines we target have 2 cores; more only contend

// Keeps both hash caches current for each copied file, so the next run neither re-reads
// what was copied nor re-hashes the copy.
void RecordCopy(TreeSide& src, TreeSide& dst, const Entry& e, const CopyResult& r) {
  src.store().Record(e, r.hash);
  dst.store().Record(e.path, r.info,
                     r.hash);
}

}  // namespace

int RunLocalMirror(const MirrorOptions& o, Reporter& rep) {
  PhaseClock clock;
  RunStats stats;
  Problems problems;
  auto warn = [&rep](const std::string& m) { rep.Warn(m); };
  TreeConfig cfg = MakeTreeConfig(o);

  // Before anything is created: a DST inside SRC (or the reverse) is refused untouched.
  CheckNotNested(CanonicalRoot(o.src), CanonicalPathOf(o.dst));
  TreeSide src = TreeSide::OpenSource(o.src, cfg, warn);
  // The two scans touch different trees: run them side by side.
  BackgroundScan dst_scan(TreeSide::OpenDest(o.dst, cfg, o.dry_run, warn));
  src.Scan(problems);
  std::vector<Problem> dst_problems;
  TreeSide dst = dst_scan.Join(dst_problems);
  for (const Problem& p : dst_problems) problems.Fail(p.path, p.message);
  stats.scan_s = clock.Lap();

  CheckSourceNotEmpty(src.manifest(), dst.manifest(), src.name(), dst.name());
  HashNeeds needs = ListHashNeeds(src.manifest(), dst.manifest(), o.plan);
  src.FillHashes(needs.src, problems);
  dst.FillHashes(needs.dst, problems);
  stats.hash_s = clock.Lap();

  Plan plan = PlanMirror(src.manifest(), dst.manifest(), o.plan);
  CheckDeleteLimits(plan, dst.manifest().size(), o.max_delete, o.max_delete_percent);
  stats.plan_s = clock.Lap();
  rep.PlanItems(plan, src.manifest(), dst.manifest(), /*push=*/false);

  if (!o.dry_run) {
    ApplyOptions ao = MakeApplyOptions(o);
    DestTree tree(UniqueFd(::dup(dst.root_fd())));
    RemoveStaleTemps(tree, dst.stale_temps());
    ApplyCounters counters;
    TransferMeter meter;
    ProgressLine progress(o.out, meter, plan.totals.files_to_send, plan.totals.bytes_to_send);
    // --bwlimit holds for local copies too (as in rsync), paid per copied file: the average
    // rate is kept, though one large file is still copied at full speed before the pause.
    RateLimiter limiter(o.bwlimit);
    ApplyBeforeData(plan, src.manifest(), dst.manifest(), tree, ao, problems, counters);
    ApplyNonData(plan, src.manifest(), dst.manifest(), tree, ao, problems, counters);
    CopyFilesInParallel(plan, src.manifest(), src.root_fd(), tree, ao, kCopyWorkers, problems, counters,
                        [&](const Entry& e, const CopyResult& r) {
                          RecordCopy(src, dst, e, r);
                          meter.AddBytes(e.size);
                          meter.AddFile();
                          limiter.Acquire(e.size);
                        });
    ApplyResult result = ApplyAfterData(plan, src.manifest(), dst.manifest(), tree, ao, problems, counters);
    progress.Finish(!problems.HasErrors());
    stats.transfer_s = clock.Lap();
    AddApplyStats(counters, result, stats);
  }
  src.CommitStore();
  dst.CommitStore();
  stats.finish_s = clock.Lap();

  FillScanStats(src.manifest(), dst.manifest(), src.file_bytes(), src.store().stats(), dst.store().stats(), stats);
  stats.total_s = clock.Total();
  return FinishRun(rep, plan, stats, problems);
}

}  // namespace ktsync
