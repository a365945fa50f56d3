#include "apply/apply_plan.h"

#include <initializer_list>

#include "apply/temp_name.h"
#include "util/error.h"

namespace ktsync {

namespace {

struct Ctx {
  const Manifest& src;
  const Manifest& dst;
  DestTree& tree;
  FileSupplier* supplier;  // null outside ApplyPlan: SendFile is the caller's business then
  const ApplyOptions& opts;
  Problems& problems;
  ApplyCounters& counters;
};

const Entry* EntryAt(const Manifest& m, int64_t i) {
  return i >= 0 && static_cast<uint64_t>(i) < m.size() ? &m[static_cast<size_t>(i)] : nullptr;
}

// A plan built from our own manifests never trips these; a bug (or a plan assembled from a
// peer's data) must fail one entry, not crash the run.
const Entry& Need(const Entry* e, const char* side) {
  if (!e) throw Error(ExitCode::FileIo, std::string("plan action lacks its ") + side + " entry");
  return *e;
}

std::string_view SourceLeaderPath(const Ctx& c, const Entry& s) {
  const Entry* leader = EntryAt(c.src, s.link_leader);
  if (!leader || !leader->IsFile() || &s == leader)
    throw Error(ExitCode::FileIo, s.path + ": hard link leader is missing or not a file");
  return leader->path;
}

void Run(const Action& a, Ctx& c) {
  const Entry* s = EntryAt(c.src, a.src);
  const Entry* d = EntryAt(c.dst, a.dst);
  const MetaOptions& meta = c.opts.meta;
  switch (a.kind) {
    case ActionKind::RemoveForType:
    case ActionKind::Delete:
      c.tree.Remove(Need(d, "destination"));
      ++c.counters.deleted;
      return;
    case ActionKind::MkDir:
      c.tree.MkDir(Need(s, "source"));
      if (c.opts.fsync) c.tree.SyncParent(s->path);  // files fsync'ed in it need it to exist
      ++c.counters.created_other;
      return;
    case ActionKind::SendFile:
      if (c.supplier) c.supplier->Supply(a, Need(s, "source"));
      return;
    case ActionKind::MetaOnly:
      c.tree.SetMeta(Need(s, "source"), meta);
      ++c.counters.meta_fixed;
      return;
    case ActionKind::Symlink:
      c.tree.MakeSymlink(Need(s, "source"), meta);
      ++c.counters.created_other;
      return;
    case ActionKind::Special:
      c.tree.MakeSpecial(Need(s, "source"), meta);
      ++c.counters.created_other;
      return;
    case ActionKind::HardLink:
      c.tree.HardLink(Need(s, "source"), SourceLeaderPath(c, *s));
      ++c.counters.created_other;
      return;
    case ActionKind::DirMeta:
      c.tree.SetMeta(Need(s, "source"), meta, /*created=*/a.dst < 0);
      ++c.counters.meta_fixed;
      return;
  }
  throw Error(ExitCode::FileIo, "unknown plan action kind");
}

void RunRecording(const Action& a, Ctx& c) {
  try {
    Run(a, c);
  } catch (const Error& e) {
    const Entry* s = EntryAt(c.src, a.src);
    const Entry* d = EntryAt(c.dst, a.dst);
    c.problems.Fail(s ? s->path : d ? d->path : std::string(), e.what());
  }
}

// One pass per call, keeping plan order among the selected kinds; cheap next to any syscall.
void RunKinds(const Plan& plan, std::initializer_list<ActionKind> kinds, Ctx& c) {
  for (const Action& a : plan.actions)
    for (ActionKind k : kinds)
      if (a.kind == k) {
        RunRecording(a, c);
        break;
      }
}

bool HasKind(const Plan& plan, ActionKind kind) {
  for (const Action& a : plan.actions)
    if (a.kind == kind) return true;
  return false;
}

void BeforeData(const Plan& plan, Ctx& c) {
  RunKinds(plan, {ActionKind::RemoveForType}, c);
  RunKinds(plan, {ActionKind::MkDir}, c);
}

ApplyResult AfterData(const Plan& plan, Ctx& c) {
  ApplyResult result;
  RunKinds(plan, {ActionKind::HardLink}, c);
  // rsync's rule: after any error the source view may be incomplete, and deleting on the
  // strength of it could destroy the only good copy.
  if (!c.problems.HasErrors() || c.opts.delete_on_error)
    RunKinds(plan, {ActionKind::Delete}, c);
  else
    result.deletes_skipped = HasKind(plan, ActionKind::Delete);
  RunKinds(plan, {ActionKind::DirMeta}, c);
  return result;
}

}  // namespace

void ApplyBeforeData(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                     const ApplyOptions& opts, Problems& problems, ApplyCounters& counters) {
  Ctx c{src, dst, tree, nullptr, opts, problems, counters};
  BeforeData(plan, c);
}

void ApplyNonData(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                  const ApplyOptions& opts, Problems& problems, ApplyCounters& counters) {
  Ctx c{src, dst, tree, nullptr, opts, problems, counters};
  RunKinds(plan, {ActionKind::Symlink, ActionKind::Special, ActionKind::MetaOnly}, c);
}

ApplyResult ApplyAfterData(const Plan& plan, const Manifest& src, const Manifest& dst,
                           DestTree& tree, const ApplyOptions& opts, Problems& problems,
                           ApplyCounters& counters) {
  Ctx c{src, dst, tree, nullptr, opts, problems, counters};
  return AfterData(plan, c);
}

ApplyResult ApplyPlan(const Plan& plan, const Manifest& src, const Manifest& dst, DestTree& tree,
                      FileSupplier& supplier, const ApplyOptions& opts, Problems& problems,
                      ApplyCounters& counters) {
  Ctx c{src, dst, tree, &supplier, opts, problems, counters};
  BeforeData(plan, c);
  RunKinds(plan,
           {ActionKind::SendFile, ActionKind::Symlink, ActionKind::Special, ActionKind::MetaOnly},
           c);
  return AfterData(plan, c);
}

void AddApplyStats(const ApplyCounters& c, const ApplyResult& r, RunStats& stats) {
  stats.files_sent = c.files_written.load();
  stats.bytes_sent = c.bytes_written.load();
  stats.deleted = c.deleted.load();
  stats.meta_fixed = c.meta_fixed.load();
  stats.created_other = c.created_other.load();
  stats.deletes_skipped = r.deletes_skipped;
}

size_t RemoveStaleTemps(DestTree& tree, const std::vector<std::string>& rel_paths) {
  size_t removed = 0;
  Entry e;
  e.type = EntryType::File;
  for (const std::string& rel : rel_paths) {
    if (!IsSafeRelativePath(rel) || rel.empty() || !IsTempName(BaseName(rel))) continue;
    e.path = rel;
    try {
      tree.Remove(e);
      ++removed;
    } catch (const Error&) {
      // Best effort: a temp we cannot remove is skipped by every scan and harms nothing.
    }
  }
  return removed;
}

}  // namespace ktsync
