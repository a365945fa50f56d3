#include "mirror/run.h"

#include <sys/stat.h>
#include <unistd.h>

#include <mutex>

#include "mirror/dry_run.h"
#include "mirror/guards.h"
#include "mirror/local_copier.h"
#include "mirror/local_source.h"
#include "mirror/receiver.h"
#include "mirror/remote_path.h"
#include "mirror/remote_source.h"
#include "mirror/remote_stats.h"
#include "mirror/source_half.h"
#include "store/state_dir.h"
#include "transfer/control.h"
#include "transfer/dest_channel.h"
#include "transfer/serve_config.h"
#include "transfer/source_channel.h"
#include "util/error.h"
#include "util/home.h"
#include "util/privileges.h"

namespace ktsync {
namespace {

constexpr int kAutoStreams = 2;  // one per core on the machines we target; --streams overrides
// A peer's stream may claim that every file has more links: what one run remembers of them.
constexpr size_t kMaxPeerLinkLeaders = 4'000'000;
// A server's warnings kept for its client (a trimmed entry's each: a pusher decides how
// many); the rest are counted. With the problems it sends, within what the client keeps.
constexpr size_t kMaxPeerWarnings = 10000;
constexpr size_t kMaxPeerWarningBytes = 4 << 20;
static_assert(Problems::kMaxKept + kMaxPeerWarnings + 16 <= PeerEnd::kMaxReports);
static_assert(Problems::kMaxKeptBytes + kMaxPeerWarningBytes + (64 << 10) <= PeerEnd::kMaxReportBytes);

// Shows nothing: the first, comparing pass of a run with --max-delete.
class SilentObserver final : public RunObserver {
 public:
  void Warn(const std::string&) override {}
  bool WantsItems() const override { return false; }
  void Item(const ItemView&) override {}
};

// A server's: warnings to the operator's log unless `echo` is false and, when
// `keep_warnings`, kept for the client too (at most kMaxPeerWarnings, kMaxPeerWarningBytes of
// them; the rest counted), sent as notes at the end; a push's items to the client when it wants them (a write-only daemon's client
// sees only the files it was asked for: SendFile items).
class ServerObserver final : public RunObserver {
 public:
  ServerObserver(const ServerConfig& cfg, SourceChannel* items, bool keep_warnings = false, bool echo = true)
      : cfg_(cfg), items_(items), keep_warnings_(keep_warnings), echo_(echo) {}
  void Warn(const std::string& m) override {
    if (echo_ && cfg_.log) cfg_.log(m);
    std::lock_guard lock(mu_);
    if (!keep_warnings_) return;
    if (budget_.Admit(m.size())) warnings_.push_back(m);
  }
  bool WantsItems() const override { return items_ != nullptr; }
  void Item(const ItemView& item) override {
    if (!cfg_.write_only) return items_->SendItem(item);
    if (item.kind != ActionKind::SendFile) return;
    ItemView wanted = item;
    wanted.changes = 0;  // what differed would describe the daemon's copy
    items_->SendItem(wanted);
  }
  std::vector<std::string> TakeWarnings() override {
    std::lock_guard lock(mu_);
    std::vector<std::string> out = std::move(warnings_);
    if (budget_.dropped() > 0) out.push_back(budget_.Unlisted("warnings"));
    warnings_.clear();
    budget_.Reset();
    return out;
  }

 private:
  const ServerConfig& cfg_;
  SourceChannel* items_;
  const bool keep_warnings_;
  const bool echo_;
  std::mutex mu_;
  std::vector<std::string> warnings_;
  KeepBudget budget_{kMaxPeerWarnings, kMaxPeerWarningBytes};
};

TreeSide::WarnFn WarnTo(RunObserver& o) {
  return [&o](const std::string& m) { o.Warn(m); };
}

// Once DST is open, before it is scanned: see MustCompareFirst (guards.h).
void CheckComparedFirst(TreeSide& dst, const MirrorSpec& spec) {
  if (MustCompareFirst(spec, dst.MirroredBefore()) && dst.HasEntries()) throw CompareFirstError(dst.name());
}

int StreamCount(const RunSpec& r) { return r.net.streams > 0 ? r.net.streams : kAutoStreams; }

RunResult RunLocal(const RunSpec& r, Problems& problems, RunObserver& observer, TransferMeter* meter) {
  // Before anything is created: a DST inside SRC (or the reverse) is refused untouched.
  CheckNotNested(CanonicalRoot(r.src), CanonicalPathOf(r.dst));
  TreeConfig tc = MakeTreeConfig(r.spec, r.state_dir);
  tc.file_list = r.file_list;  // the source's scan only (TreeSide::MakeScanOptions)
  TreeSide src = TreeSide::OpenSource(r.src, tc, WarnTo(observer));
  TreeSide dst = TreeSide::OpenDest(r.dst, tc, r.spec.dry_run, WarnTo(observer));
  CheckComparedFirst(dst, r.spec);
  src.set_meter(meter);
  dst.set_meter(meter);
  LocalSource source(src, problems, observer);  // the two scans run side by side
  ScanStream dst_scan(dst, problems, /*failures_only=*/true);
  DryRunMover dry;
  XattrLosses unsupported;
  std::optional<LocalCopier> copier;
  if (!r.spec.dry_run)
    copier.emplace(src, dst, CopyOptions{MakeApplyOptions(r.spec, &unsupported), r.spec.skip_changing_files, src.follows_links()}, problems,
                   meter, r.net.bwlimit);
  Mover& mover = copier ? static_cast<Mover&>(*copier) : dry;
  RunResult out;
  out.totals = RunDestHalf(dst, dst_scan, source, mover, MakeDestOptions(r.spec, src.name(), &unsupported), problems,
                           observer, meter, out.stats);
  return out;
}

SessionRequest MakeRequest(const RunSpec& r, bool want_items) {
  SessionRequest req;
  req.role = r.push ? ServerRole::Receive : ServerRole::Send;
  req.path = r.remote->path;
  req.spec = r.spec;
  req.no_ktls = r.net.no_ktls;
  req.no_encryption = r.net.no_encryption;
  req.require_ktls = r.net.require_ktls;
  req.want_items = want_items;
  req.streams = static_cast<uint16_t>(StreamCount(r));
  req.data_port = r.net.data_port;
  req.bwlimit = r.net.bwlimit;
  req.data_via = r.net.data_via;
  req.compress_level = r.net.compress_level;
  req.file_list = !r.push && r.file_list != nullptr;  // a push's client scans SRC itself
  req.file_list_recursive = req.file_list && r.file_list->recursive();
  return req;
}

std::vector<std::unique_ptr<ByteStream>> OpenAll(int n, const StreamOpener& open) {
  std::vector<std::unique_ptr<ByteStream>> streams;
  for (int i = 0; i < n; ++i) streams.push_back(open(i));
  return streams;
}

void RecordTransport(const ClientLink& link, const NetworkOptions& net, RunStats& stats) {
  stats.data_path = link.data_path().via;
  stats.data_path_why = link.data_path().why;
  stats.compress_level = net.compress_level;
}

RunResult Push(const RunSpec& r, Problems& problems, RunObserver& observer, TransferMeter* meter) {
  TreeConfig tc = MakeTreeConfig(r.spec, r.state_dir);
  tc.file_list = r.file_list;
  TreeSide src = TreeSide::OpenSource(r.src, tc, WarnTo(observer));
  src.set_meter(meter);
  Problems ours;  // sent to the server, which closes its deletion gate on them
  ScanStream scan(src, ours, /*failures_only=*/false);  // overlaps the login
  ClientLink link(*r.remote, MakeRequest(r, observer.WantsItems()), r.net.no_encryption, r.net.no_ktls, r.net.timeout_sec);
  DestChannel channel(link.in(), link.out(), [&observer](const ItemView& v) { observer.Item(v); },
                      /*dest_reports_end=*/true);
  SourceHalfOptions so;
  so.reopen = [&link](int no) { return link.OpenData(no); };
  so.open_streams = [&] { return OpenAll(StreamCount(r), so.reopen); };
  so.require_ktls = r.net.require_ktls;
  so.open_first = r.net.require_ktls;
  so.bwlimit = r.net.bwlimit;
  so.skip_changing = r.spec.skip_changing_files;
  so.compress_level = r.net.compress_level;
  RunResult out;
  RunSourceHalf(src, scan, channel, so, ours, observer, meter, out.stats);
  problems.AddAll(ours);
  PeerEnd end = channel.AwaitEnd();
  RecordPeerReports(end, TreeRole::Destination, link.name(), &problems, observer, out.stats);
  uint64_t files_sent = out.stats.files_sent;
  DestStatsFromWire(end.stats, out.stats, out.totals);
  if (out.stats.files_sent == 0) out.stats.files_sent = files_sent;
  observer.Planned(out.totals);
  channel.SendDone();
  RecordTransport(link, r.net, out.stats);
  if (std::string w = link.Close(); !w.empty()) observer.Warn(w);
  return out;
}

RunResult Pull(const RunSpec& r, Problems& problems, RunObserver& observer, TransferMeter* meter) {
  TreeConfig tc = MakeTreeConfig(r.spec, r.state_dir);
  auto open_dst = [&] {
    TreeSide dst = TreeSide::OpenDest(r.dst, tc, r.spec.dry_run, WarnTo(observer));
    CheckComparedFirst(dst, r.spec);
    dst.set_meter(meter);
    return dst;
  };
  // Opened before connecting, DST's scan overlaps the login; only when opening changes
  // nothing: a missing DST is created once the remote has answered.
  std::optional<TreeSide> dst;
  std::optional<ScanStream> dst_scan;
  struct stat st;
  if (r.spec.dry_run || ::stat(r.dst.c_str(), &st) == 0) {
    dst.emplace(open_dst());
    dst_scan.emplace(*dst, problems, /*failures_only=*/true);
  }
  ClientLink link(*r.remote, MakeRequest(r, false), r.net.no_encryption, r.net.no_ktls, r.net.timeout_sec,
                  r.file_list);
  if (r.net.require_ktls && !link.ready().send_ktls_unavailable.empty()) {
    throw Error(ExitCode::KtlsUnavailable, "--require-ktls: the remote sender would encrypt in userspace, not the kernel: " +
                                               link.ready().send_ktls_unavailable);
  }
  if (!dst) {
    dst.emplace(open_dst());
    dst_scan.emplace(*dst, problems, /*failures_only=*/true);
  }
  SourceChannel channel(link.in(), link.out());
  RemoteSource source(channel, problems, observer, link.name(), /*record_problems=*/true);
  RunResult out;
  DryRunMover dry;
  XattrLosses unsupported;
  std::optional<Receiver> receiver;
  if (!r.spec.dry_run) {
    StreamOpener reopen = [&link](int no) { return link.OpenData(no); };
    receiver.emplace(*dst, MakeApplyOptions(r.spec, &unsupported), channel, [&, reopen] { return OpenAll(StreamCount(r), reopen); },
                     reopen, r.net.compress_level > 0, problems, meter, out.stats);
  }
  Mover& mover = receiver ? static_cast<Mover&>(*receiver) : dry;
  DestOptions opts = MakeDestOptions(r.spec, link.name(), &unsupported);
  opts.max_link_leaders = kMaxPeerLinkLeaders;
  out.totals = RunDestHalf(*dst, *dst_scan, source, mover, opts, problems, observer, meter, out.stats);
  channel.SendDone();
  RecordTransport(link, r.net, out.stats);
  if (std::string w = link.Close(); !w.empty()) observer.Warn(w);
  return out;
}

RunResult RunOnce(const RunSpec& r, Problems& problems, RunObserver& observer, TransferMeter* meter) {
  if (!r.remote) return RunLocal(r, problems, observer, meter);
  if (r.net.no_encryption && r.remote->daemon)
    throw Error(ExitCode::Usage, "--no-encryption is only for host:/path (ssh) remotes; a daemon always uses TLS");
  return r.push ? Push(r, problems, observer, meter) : Pull(r, problems, observer, meter);
}

// A real run's deletion limits are asked first through a dry run of the same mirror, shown
// nothing: a refusal (exit 25) then comes before anything changed.
void CompareFirst(const RunSpec& run) {
  RunSpec count = run;
  count.spec.dry_run = true;
  Problems ignored;
  SilentObserver silent;
  RunResult planned = RunOnce(count, ignored, silent, nullptr);
  if (!planned.stats.deletes_refused.empty())
    throw Error(ExitCode::MaxDelete, "refusing to mirror: " + planned.stats.deletes_refused + "; nothing was changed");
}

// RunOnce, or nullopt when the side holding DST asks for CompareFirst before it changes
// anything (guards.h). Problems the asked-off attempt met are dropped: the next one meets them.
std::optional<RunResult> RunUnlessAskedToCompare(const RunSpec& r, Problems& problems, RunObserver& observer,
                                                 TransferMeter* meter) {
  Problems mine;
  auto keep = [&] { problems.AddAll(mine); };
  try {
    RunResult out = RunOnce(r, mine, observer, meter);
    keep();
    return out;
  } catch (const Error& e) {
    if (e.code() == ExitCode::CompareFirst && !r.spec.deletes.compared_first) return std::nullopt;
    keep();
    throw;
  }
}

TreeSide OpenServerTree(const ServerLink& link, bool as_dest, RunObserver& observer) {
  const SessionRequest& req = link.request();
  TreeConfig tc = MakeTreeConfig(req.spec, link.config().state_dir);
  tc.fake_super = link.config().fake_super;
  if (!as_dest) tc.file_list = link.file_list();
  if (!link.config().root.empty()) {
    std::optional<std::string> rel = PathInModule(link.config().module, req.path);
    if (!rel)
      throw Error(ExitCode::SelectFiles, "'" + req.path + "' is not in module [" + link.config().module +
                                             "], whose secret this client used");
    return TreeSide::OpenBeneath(link.config().root, *rel, as_dest, req.spec.dry_run, tc, WarnTo(observer));
  }
  std::string path = ResolveRemotePath(req.path, WorkingDirectory(), HomeDirectory(), UserHome);
  return as_dest ? TreeSide::OpenDest(path, tc, req.spec.dry_run, WarnTo(observer))
                 : TreeSide::OpenSource(path, tc, WarnTo(observer));
}

// A write-only daemon's client learns which of its files were wanted, nothing of what else
// the tree holds: its problems (which may name entries only the daemon has, e.g. a failed
// delete) go to the operator's log, the client gets their count.
void ReportHidingDestination(const Problems& problems, const ServerConfig& cfg, SourceChannel& channel) {
  if (!problems.HasErrors()) return;
  for (const Problem& p : problems.Snapshot())
    if (cfg.log) cfg.log(p.message);
  channel.SendReport({SessionReport::Failed, "", std::to_string(problems.Count()) +
                                                   " entries could not be mirrored; this daemon is write-only, so "
                                                   "their names are only in its log"});
}

// Push: the client holds SRC; this end plans and applies.
void ServeDestination(ServerLink& link) {
  const SessionRequest& req = link.request();
  const ServerConfig& cfg = link.config();
  // With --fake-super owners, setid bits and devices are only recorded, so entries pass
  // unscreened; security.* and trusted.* attributes would still be real, so the xattr
  // classes keep following the daemon's own limits (--allow-setid).
  const WriteLimits screen = cfg.fake_super ? WriteLimits{} : cfg.limits;
  MirrorSpec spec = LimitSpec(req.spec, screen);
  if (cfg.fake_super) spec.plan.link_owners = false;
  if (cfg.write_only) spec.plan.hash_touched = false;
  Problems problems;
  ServerObserver log(link.config(), nullptr);
  TreeSide dst = OpenServerTree(link, /*as_dest=*/true, log);
  CheckComparedFirst(dst, req.spec);
  ScanStream dst_scan(dst, problems, /*failures_only=*/true);
  SourceChannel channel(link.in(), link.out());
  ServerObserver observer(link.config(), req.want_items ? &channel : nullptr, /*keep_warnings=*/true);
  RemoteSource source(channel, problems, observer, "client", /*record_problems=*/false);
  RunResult out;
  DryRunMover dry;
  XattrLosses unsupported;
  std::optional<Receiver> receiver;
  if (!req.spec.dry_run) {
    ApplyOptions apply = MakeApplyOptions(spec, &unsupported, cfg.limits);
    apply.meta.fake_super = cfg.fake_super;
    receiver.emplace(dst, apply, channel, [&] { return OpenAll(req.streams, [&](int) {
                       return link.TakeData(); }); },
                     [&link](int) { return link.TakeData(); }, req.compress_level > 0, problems, nullptr, out.stats);
    receiver->InterruptOpeningWith([&link] { link.AbortData("the client's control channel failed"); });
  }
  Mover& mover = receiver ? static_cast<Mover&>(*receiver) : dry;
  DestOptions opts = MakeDestOptions(spec, "the client's SRC", &unsupported, cfg.limits);
  opts.limits = screen;
  opts.fake_super = cfg.fake_super;
  if (cfg.fake_super) opts.plan.owner = spec.plan.owner;  // recorded, not chowned: no root needed
  if (req.spec.plan.owner && !spec.plan.owner)
    observer.Warn("owners and groups not kept: files belong to this daemon's user (its operator can allow them "
                  "with serve --allow-owners)");
  opts.max_link_leaders = kMaxPeerLinkLeaders;
  out.totals = RunDestHalf(dst, dst_scan, source, mover, opts, problems, observer, nullptr, out.stats);
  if (link.config().write_only) {
    ReportHidingDestination(problems, link.config(), channel);
    if (!out.stats.deletes_refused.empty())  // the client still learns its limit held (exit 25)
      channel.SendReport({SessionReport::Note, "deletes_refused",
                          "the deletions would pass a deletion limit (--max-delete, --max-delete-percent, or "
                          "on a first mirror the guard that --force-delete lifts); a write-only daemon shows "
                          "no counts"});
  } else {
    for (const Problem& p : problems.Snapshot()) channel.SendReport(ReportOf(p));
    if (!out.stats.deletes_refused.empty())
      channel.SendReport({SessionReport::Note, "deletes_refused", out.stats.deletes_refused});
  }
  std::vector<std::string> warnings = observer.TakeWarnings();
  if (link.config().write_only && !warnings.empty()) {
    // They may name entries only the daemon has (a directory kept for its excluded files).
    channel.SendReport({SessionReport::Note, "warning", std::to_string(warnings.size()) +
                                                            " warnings; this daemon is write-only, so they are only "
                                                            "in its log"});
    warnings.clear();
  }
  for (std::string& w : warnings) channel.SendReport({SessionReport::Note, "warning", std::move(w)});
  if (!out.stats.encryption_recv.empty()) channel.SendReport({SessionReport::Note, "encryption", out.stats.encryption_recv});
  Stats result = DestStatsToWire(out.stats, out.totals);
  channel.SendResult(link.config().write_only ? WithoutDestinationCounts(std::move(result)) : result);
  channel.ExpectDone();
}

// Pull: the client holds DST; this end lists SRC and sends what it is asked for.
void ServeSource(ServerLink& link) {
  const SessionRequest& req = link.request();
  Problems problems;
  ServerObserver log(link.config(), nullptr);
  TreeSide src = OpenServerTree(link, /*as_dest=*/false, log);
  ScanStream scan(src, problems, /*failures_only=*/false);
  DestChannel channel(link.in(), link.out(), nullptr, /*dest_reports_end=*/false);
  SourceHalfOptions so;
  so.reopen = [&link](int) { return link.TakeData(); };
  so.open_streams = [&] { return OpenAll(req.streams, so.reopen); };
  so.require_ktls = req.require_ktls;
  so.bwlimit = req.bwlimit;
  so.skip_changing = req.spec.skip_changing_files;
  so.compress_level = req.compress_level;
  // The source half's warnings (skipped mount points) are the client's, sent as notes; not
  // echoed over ssh, where the server's log is the client's stderr too.
  const bool over_ssh = !link.config().register_session;
  ServerObserver peer(link.config(), nullptr, /*keep_warnings=*/true, /*echo=*/!over_ssh);
  RunStats stats;
  RunSourceHalf(src, scan, channel, so, problems, peer, nullptr, stats);
  channel.AwaitDone();
}

}  // namespace

RunResult RunMirror(const RunSpec& run, Problems& problems, RunObserver& observer, TransferMeter* meter) {
  RunSpec checked = run;
  const DeleteLimits& limits = run.spec.deletes;
  if (!run.spec.dry_run && (limits.max_delete || limits.max_delete_percent)) {
    CompareFirst(run);
    checked.spec.deletes.compared_first = true;
  }
  std::optional<RunResult> out = RunUnlessAskedToCompare(checked, problems, observer, meter);
  if (!out) {  // a first mirror into a non-empty DST
    CompareFirst(run);
    checked.spec.deletes.compared_first = true;
    out = RunOnce(checked, problems, observer, meter);
  }
  out->stats.total_s = observer.Elapsed();
  return std::move(*out);
}

int ServeSession(ByteStream& control, const ServerConfig& cfg) {
  std::optional<ServerLink> link;
  try {
    link.emplace(control, cfg);
    if (link->request().role == ServerRole::Receive) {
      ServeDestination(*link);
    } else {
      ServeSource(*link);
    }
    return 0;
  } catch (const Error& e) {
    if (link) {
      link->SendError(e);
    } else {
      Control c(control);
      SendError(c, e);
    }
    return static_cast<int>(e.code());
  }
}

ExitCode RunExitCode(const Problems& problems, const RunStats& stats) {
  ExitCode code = problems.ExitCodeFor();
  if (code == ExitCode::Ok && !stats.deletes_refused.empty()) return ExitCode::MaxDelete;
  return code;
}

TreeConfig MakeTreeConfig(const MirrorSpec& spec, const std::string& state_dir) {
  TreeConfig cfg;
  cfg.state_dir = state_dir;
  cfg.one_file_system = spec.one_file_system;
  cfg.hard_links = spec.plan.hard_links;
  cfg.copy_links = spec.copy_links;
  cfg.xattr_classes = spec.plan.xattrs;
  cfg.filters = spec.filters;
  cfg.delete_excluded = spec.delete_excluded;
  return cfg;
}

ApplyOptions MakeApplyOptions(const MirrorSpec& spec, XattrLosses* unsupported_xattrs, const WriteLimits& limits) {
  ApplyOptions ao;
  ao.meta.perms = spec.plan.perms;
  ao.meta.times = spec.plan.times;
  ao.meta.owner = spec.plan.owner;
  ao.meta.group = spec.plan.group;
  ao.meta.xattrs = spec.plan.xattrs & LimitXattrClasses(WritableXattrClasses(), limits);
  ao.meta.unsupported_xattrs = unsupported_xattrs;
  ao.fsync = spec.fsync;
  return ao;
}

DestOptions MakeDestOptions(const MirrorSpec& spec, std::string src_name, XattrLosses* unsupported_xattrs,
                            const WriteLimits& limits) {
  DestOptions o;
  o.plan = spec.plan;
  // As rsync: only root can give files away, so others plan no owner changes (and do not
  // list each file as changed on every run).
  o.plan.owner = spec.plan.owner && geteuid() == 0;
  o.tweaks.chmod = spec.chmod;
  if (!spec.chown_user.empty()) o.tweaks.uid = UserIdOf(spec.chown_user, "--chown");
  if (!spec.chown_group.empty()) o.tweaks.gid = GroupIdOf(spec.chown_group, "--chown");
  o.tweaks.safe_links = spec.safe_links;
  o.plan.xattrs_writable = LimitXattrClasses(WritableXattrClasses(), limits);
  o.limits = limits;
  o.unsupported_xattrs = unsupported_xattrs;
  o.deletes = spec.deletes;
  o.src_name = std::move(src_name);
  return o;
}

}  // namespace ktsync
