#include "mirror/dest_half.h"

#include <unistd.h>

#include <functional>

#include "apply/apply_action.h"
#include "manifest/diff.h"
#include "manifest/fake_super.h"
#include "mirror/applier.h"
#include "mirror/guards.h"

namespace ktsync {
namespace {


// Spooled actions go next to the tree's hash cache (our own directory, on disk), or to
// $TMPDIR when the cache lives in memory.
std::string SpoolDir(TreeSide& dst) {
  std::string db = dst.store().db_path();
  return db.empty() ? "" : std::string(ParentPath(db));
}

// Scan problems of DST were made failures by its ScanStream; its hash problems (a file
// that changed while read) are too: nothing vanished from the *source*.
void HashDestination(TreeSide& dst, const std::vector<Entry*>& entries, Problems& problems) {
  Problems mine;
  dst.FillHashes(entries, mine);
  problems.AddAll(mine, /*as_failures=*/true);
}

// The planner is about to wait for entries: first `before_wait` runs (the mover hands on
// what it batched; for SRC, what holds the source back is decided), told the ordinal of
// the next entry.
class WaitingSource final : public EntrySource {
 public:
  WaitingSource(EntrySource& entries, std::function<void(int64_t next)> before_wait)
      : entries_(entries), before_wait_(std::move(before_wait)) {}
  bool NextBatch(EntryBatch& out) override {
    before_wait_(next_);
    if (!entries_.NextBatch(out)) return false;
    next_ = out.first + static_cast<int64_t>(out.entries.size());
    return true;
  }

 private:
  EntrySource& entries_;
  const std::function<void(int64_t)> before_wait_;
  int64_t next_ = 0;
};

class Pipeline {
 public:
  Pipeline(TreeSide& dst, ScanStream& dst_scan, Source& src, Mover& mover, const DestOptions& opts,
           Problems& problems, RunObserver& observer, TransferMeter* meter)
      : dst_(dst),
        dst_scan_(dst_scan),
        src_(src),
        opts_(opts),
        problems_(problems),
        observer_(observer),
        meter_(meter),
        mover_(mover),
        applier_(mover, problems, observer, meter, SpoolDir(dst)),
        planner_(opts.plan, applier_, opts.max_link_leaders) {}

  PlanTotals Run(RunStats& stats) {
    bool mirrored_before = dst_.MirroredBefore();  // before this run records itself
    MergeAndPlan(dst_scan_);
    observer_.Scanned(TreeRole::Destination, dst_scan_.summary().entries);
    double scanned = observer_.Elapsed();
    // SRC's stream has ended: an empty SRC planned only deletions, which wait for the end.
    CheckSourceNotEmpty(planner_.src_entries(), planner_.dst_entries(), src_root_partial_, opts_.src_name,
                        dst_.name());
    planner_.Finish();
    const PlanTotals& totals = planner_.totals();
    if (meter_) meter_->planned = true;
    observer_.Planned(totals);
    double planned = observer_.Elapsed();

    applier_.Drain();
    bool src_errors = src_.Finish(stats);  // the source's last problems count for the gate
    double moved = observer_.Elapsed();

    if (!mover_.dry() && dst_.exists()) {
      DestTree tree(UniqueFd(::dup(dst_.root_fd())));
      RemoveStaleTemps(tree, dst_scan_.summary().stale_temps);
    }
    DestFacts facts{planner_.dst_entries(), mirrored_before, dst_.name()};
    DeletionDecision gate = DecideDeletions(problems_.HasErrors() || src_errors, totals.to_delete, facts, opts_.deletes);
    applier_.Finish(gate);
    if (gate.verdict == DeletionDecision::SkipLimit) stats.deletes_refused = gate.message;
    dst_.CommitStore();
    // Only a run that made DST a mirror (it deleted what SRC lacks) vouches for it as one.
    if (!mover_.dry() && opts_.plan.delete_extraneous && gate.run()) dst_.RecordMirrored();
    WarnXattrLosses();

    const ApplyCounts& c = applier_.counts();
    stats.src_entries = planner_.src_entries();
    stats.dst_entries = planner_.dst_entries();
    stats.src_file_bytes = src_file_bytes_;
    StoreStats ds = dst_.store().stats();
    stats.hashed_dst = ds.hashed;
    stats.cache_hits_dst = ds.hits;
    stats.files_sent = c.files_written;
    stats.bytes_sent = c.bytes_written;
    stats.deleted = c.deleted;
    stats.meta_fixed = c.meta_fixed;
    stats.created_other = c.created_other;
    stats.deletes_skipped = c.deletes_skipped;
    double end = observer_.Elapsed();
    stats.scan_s = scanned;
    stats.hash_s = hash_s_;
    stats.plan_s = planned;
    stats.transfer_s = moved - planned;
    stats.finish_s = end - moved;
    stats.total_s = end;
    return totals;
  }

 private:
  void WarnXattrLosses() {
    std::string lines[] = {
        planner_.unwritable_xattrs().Describe((WritableXattrClasses() & kXattrSecurity) == 0
                                                  ? "only root may set them"
                                                  : "this daemon does not accept them (serve --allow-setid)"),
        opts_.unsupported_xattrs ? opts_.unsupported_xattrs->Describe("DST's filesystem does not support them") : ""};
    for (const std::string& w : lines)
      if (!w.empty()) observer_.Warn(w);
    if (unowned_links_ > 0)
      observer_.Warn(std::to_string(unowned_links_) + " symlinks (e.g. " + first_unowned_link_ +
                     ") keep this daemon's owner: --fake-super stores owners in a user.* attribute, which "
                     "Linux does not allow on symlinks");
  }

  void MergeAndPlan(EntrySource& dst_scan) {
    WaitingSource src(src_, [this](int64_t next) { BeforeSourceWaits(next); });
    WaitingSource dst(dst_scan, [this](int64_t) { mover_.Flush(); });
    MergeWalk walk(src, dst);
    EntryPair pair;
    while (walk.Next(pair)) {
      if (pair.src && pair.src_index == 0) src_root_partial_ = pair.src->contents_partial;  // the root
      if (pair.src) pair.src_refused = !Screen(pair);
      if (pair.src && pair.src->IsFile() && !pair.src_refused) src_file_bytes_ += pair.src->size;
      planner_.Visit(std::move(pair));
      int64_t next = walk.next_src_index();
      if (planner_.WantsHashes(next)) ResolveHashes();
      src_.Release(planner_.OldestUndecided(next), false);
    }
    if (planner_.HasUndecided()) ResolveHashes();
  }

  // Every SRC entry below `next` was planned. A source out of credit sends nothing more
  // until we release entries, and undecided pairs and held leaders keep us from releasing
  // them: decide them now (hashes asked, leaders sent) so the grant moves.
  void BeforeSourceWaits(int64_t next) {
    mover_.Flush();
    if (!src_.Starved()) return;
    if (planner_.HasUndecided()) ResolveHashes();
    planner_.SendHeldLeaders();
    src_.Release(planner_.OldestUndecided(next), true);
  }

  // What becomes of a SRC entry before it is planned: the user's tweaks (--chmod, --chown,
  // --safe-links), then a daemon's say (its WriteLimits, --fake-super). An entry left alone
  // or refused is not created, and DST's entry at its path (if any) is left as it is, with
  // what lies beneath it (EntryPair::src_refused); false for those.
  bool Screen(EntryPair& pair) {
    if (opts_.fake_super) NoteFakeSuper(*pair.src);
    if (opts_.tweaks.any() && !TweakEntry(*pair.src, opts_.tweaks)) return false;
    if (!opts_.limits.limits_anything()) return true;
    EntryVerdict v = LimitEntry(*pair.src, opts_.limits);
    if (v.kind == EntryVerdict::Trimmed) observer_.Warn(v.why);
    if (v.kind != EntryVerdict::Refused) return true;
    problems_.Fail(pair.src->path, std::move(v.why));
    return false;
  }

  // A SRC copy of a fake-super tree may list our attribute: never mirrored as one.
  void NoteFakeSuper(Entry& e) {
    StripFakeStat(e);
    if (e.type != EntryType::Symlink || !opts_.plan.owner) return;
    if (unowned_links_++ == 0) first_unowned_link_ = e.path;
  }

  // Both ends read at once: the source's hashes are asked for (or computed) first, ours
  // are computed while they come.
  void ResolveHashes() {
    double t = observer_.Elapsed();
    Planner::HashNeeds needs = planner_.TakeHashNeeds();
    if (!needs.src.empty()) src_.StartHashes(needs.src);
    HashDestination(dst_, needs.dst, problems_);
    if (!needs.src.empty()) src_.FinishHashes();
    planner_.Resolve();
    hash_s_ += observer_.Elapsed() - t;
  }

  TreeSide& dst_;
  ScanStream& dst_scan_;
  Source& src_;
  const DestOptions& opts_;
  Problems& problems_;
  RunObserver& observer_;
  TransferMeter* meter_;
  Mover& mover_;
  Applier applier_;
  Planner planner_;
  uint64_t src_file_bytes_ = 0;
  bool src_root_partial_ = false;  // SRC took only some of its children: DST keeps the others
  double hash_s_ = 0;
  uint64_t unowned_links_ = 0;
  std::string first_unowned_link_;
};

}  // namespace

PlanTotals RunDestHalf(TreeSide& dst, ScanStream& dst_scan, Source& src, Mover& mover, const DestOptions& opts,
                       Problems& problems, RunObserver& observer, TransferMeter* meter, RunStats& stats) {
  Pipeline pipeline(dst, dst_scan, src, mover, opts, problems, observer, meter);
  try {
    return pipeline.Run(stats);
  } catch (...) {
    mover.Abort();  // its threads report to the pipeline's Applier, which goes next
    throw;
  }
}

}  // namespace ktsync
