#include "transfer/client_session.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "mirror/background_scan.h"
#include "mirror/guards.h"
#include "transfer/byte_io.h"
#include "transfer/control.h"
#include "transfer/data_channel.h"
#include "transfer/net.h"
#include "transfer/plan_subset.h"
#include "transfer/rate_limiter.h"
#include "transfer/secret.h"
#include "transfer/session_messages.h"
#include "transfer/ssh_process.h"
#include "util/error.h"

namespace ktsync {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point& t) {
  auto now = Clock::now();
  double s = std::chrono::duration<double>(now - t).count();
  t = now;
  return s;
}

constexpr int kConnectTimeoutMs = 15000;
constexpr int kAutoStreams = 2;  // one per core on the machines we target; --streams overrides

// The control channel and whatever keeps it alive (the ssh child).
struct Link {
  std::unique_ptr<SshProcess> ssh;
  std::unique_ptr<ByteStream> control;
  DataSecurity data;
  std::string data_host;
  uint16_t data_port = 0;
};

Link ConnectSsh(const ClientOptions& o) {
  Link l;
  l.ssh = std::make_unique<SshProcess>();
  l.ssh->Spawn(BuildSshArgv(o.remote.ssh_command, o.remote.user, o.remote.host, o.remote.remote_ktsync));
  l.control = std::make_unique<FdStream>(std::move(l.ssh->from_remote()), std::move(l.ssh->to_remote()),
                                         o.remote.host + " (over ssh)");
  l.data.key = RandomKey();  // fresh for this run; travels only inside ssh
  l.data.identity = kDataIdentity;
  return l;
}

Link ConnectDaemon(const ClientOptions& o) {
  if (o.remote.secret_file.empty())
    throw Error(ExitCode::Usage, "ktsync://" + o.remote.host + " needs --secret-file FILE with the daemon's secret");
  Link l;
  std::string secret = ReadSecretFile(o.remote.secret_file, /*enforce_private=*/true);
  TlsParams p;
  p.key = DeriveKey(secret, "daemon");
  p.identity = kDaemonIdentity;
  p.allow_ktls = false;  // control traffic is small; kTLS is for the data path
  p.handshake_timeout_ms = kConnectTimeoutMs;
  p.peer_name = FormatHostPort(o.remote.host, o.remote.port);
  UniqueFd sock = ConnectTcp(o.remote.host, o.remote.port, kConnectTimeoutMs);
  if (o.timeout_sec > 0) SetIoTimeout(sock.get(), o.timeout_sec);
  l.control = TlsStream::Connect(std::move(sock), p);
  l.data.key = p.key;
  l.data.identity = kDaemonIdentity;
  l.data_host = o.remote.host;
  l.data_port = o.remote.port;
  return l;
}

// An early failure over ssh is usually ssh's (or a missing remote ktsync): say which.
[[noreturn]] void ExplainSshFailure(Link& l, const ClientOptions& o, const Error& e) {
  if (l.ssh) {
    l.control.reset();
    int status = l.ssh->Wait();
    if (status != 0) {
      ExitCode code = ExitCode::StartProtocol;
      std::string msg = DescribeSshExit(status, o.remote.host, o.remote.remote_ktsync, &code);
      throw Error(code, msg);
    }
  }
  throw e;
}

// Next control frame, which must be one of `a` or `b`; a peer's Error frame is rethrown.
Frame ExpectEither(Control& c, FrameType a, FrameType b) {
  std::optional<Frame> f = c.reader.Next();
  if (!f) throw Error(ExitCode::SocketIo, c.stream.peer() + ": connection closed before the run finished");
  if (f->type == a || f->type == b) return *f;
  if (f->type == FrameType::Error) {
    ErrorMessage m = DecodeError(f->payload);
    throw Error(m.code, c.stream.peer() + ": " + m.message);
  }
  ThrowProtocolError(std::string("unexpected ") + FrameTypeName(f->type) + " from " + c.stream.peer());
}

class ClientSession {
 public:
  ClientSession(const ClientOptions& o, const ClientHooks& h, Problems& p) : o_(o), hooks_(h), problems_(p) {}

  RunStats Run(Plan& plan) {
    Clock::time_point t0 = Clock::now(), t = t0;
    std::optional<BackgroundScan> local_scan;
    if (LocalSideMayOpenFirst()) local_scan.emplace(OpenLocalSide());
    Start();
    Control c(*link_.control);
    ctl_ = &c;
    if (!local_scan) local_scan.emplace(OpenLocalSide());
    ScanBothSides(*local_scan);
    stats_.scan_s = Since(t);
    const Manifest& src = o_.push ? local_->manifest() : remote_;
    const Manifest& dst = o_.push ? remote_ : local_->manifest();
    CheckSourceNotEmpty(src, dst, o_.push ? o_.local_path : RemoteName(), o_.push ? RemoteName() : o_.local_path);
    ResolveHashes();
    stats_.hash_s = Since(t);
    plan = PlanMirror(src, dst, o_.plan);
    CheckDeleteLimits(plan, dst.size(), o_.max_delete, o_.max_delete_percent);
    stats_.plan_s = Since(t);
    if (hooks_.on_plan) hooks_.on_plan(plan, src, dst);
    if (o_.dry_run || (o_.push && plan.actions.empty())) {
      c.writer.Write(FrameType::Done, {});
    } else if (o_.push) {
      Push(plan);
    } else {
      Pull(plan);
    }
    stats_.transfer_s = Since(t);
    Finish();
    stats_.finish_s = Since(t);
    stats_.total_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return stats_;
  }

 private:
  std::string RemoteName() const {
    return (o_.remote.daemon ? "ktsync://" + FormatHostPort(o_.remote.host, o_.remote.port) : o_.remote.host + ":") +
           o_.remote.path;
  }

  void Start() {
    link_ = o_.remote.daemon ? ConnectDaemon(o_) : ConnectSsh(o_);
    link_.data.encrypt = !o_.no_encryption;
    link_.data.allow_ktls = !o_.no_ktls;
    link_.data.io_timeout_sec = o_.timeout_sec;
    Control c(*link_.control);
    try {
      ExchangeHello(c);
    } catch (const Error& e) {
      ExplainSshFailure(link_, o_, e);
    }
    SessionRequest r;
    r.role = o_.push ? ServerRole::Receive : ServerRole::Send;
    r.path = o_.remote.path;
    r.plan = o_.plan;
    r.dry_run = o_.dry_run;
    r.one_file_system = o_.tree.one_file_system;
    r.fsync = o_.apply.fsync;
    r.delete_on_error = o_.apply.delete_on_error;
    r.no_ktls = o_.no_ktls;
    r.no_encryption = o_.no_encryption;
    r.require_ktls = o_.require_ktls;
    r.filters = o_.tree.filters;
    streams_ = o_.streams > 0 ? o_.streams : kAutoStreams;
    r.streams = static_cast<uint16_t>(streams_);
    r.data_port = o_.data_port;
    r.bwlimit = o_.bwlimit;
    if (!o_.remote.daemon) r.data_key = link_.data.key;
    std::string out;
    EncodeRequest(r, out);
    c.writer.Write(FrameType::Request, out);
    SessionReady ready = DecodeReady(c.reader.Expect(FrameType::Ready).payload);
    token_ = ready.token;
    if (!o_.remote.daemon) {
      link_.data_host = ready.data_host.empty() ? o_.remote.host : ready.data_host;
      link_.data_port = ready.data_port;
    }
    remote_send_ktls_unavailable_ = ready.send_ktls_unavailable;
  }

  // Opened before connecting, the local side's scan overlaps the ssh login or TLS handshake
  // (0.35 s here, against about 1.2 s for a cold scan of 100,000 files). Only when opening
  // changes nothing: a pull's missing DST is created once the remote has answered.
  bool LocalSideMayOpenFirst() const {
    struct stat st;
    return o_.push || o_.dry_run || ::stat(o_.local_path.c_str(), &st) == 0;
  }

  TreeSide OpenLocalSide() const {
    auto warn = [this](const std::string& m) {
      if (hooks_.warn) hooks_.warn(m);
    };
    return o_.push ? TreeSide::OpenSource(o_.local_path, o_.tree, warn)
                   : TreeSide::OpenDest(o_.local_path, o_.tree, o_.dry_run, warn);
  }

  // The local scan runs while the remote's manifest streams in.
  void ScanBothSides(BackgroundScan& local_scan) {
    remote_ = ReceiveManifest(*ctl_);
    std::vector<Problem> local_problems;
    local_.emplace(local_scan.Join(local_problems));
    for (const Problem& p : local_problems) {
      if (p.kind == ProblemKind::Vanished) problems_.Vanish(p.path, p.message);
      else problems_.Fail(p.path, p.message);
    }
  }

  void ResolveHashes() {
    const Manifest& src = o_.push ? local_->manifest() : remote_;
    const Manifest& dst = o_.push ? remote_ : local_->manifest();
    HashNeeds needs = ListHashNeeds(src, dst, o_.plan);
    const std::vector<int64_t>& want = o_.push ? needs.dst : needs.src;
    // One request frame at a time, each answered in full: O(1) round trips for any tree
    // that fits 262144 hashes per frame, and no pipe deadlock on huge lists. The first
    // request goes out before we hash our own side, so both ends hash at the same time.
    std::span<const int64_t> rest(want);
    std::string out;
    auto request = [&] {
      out.clear();
      size_t n = rest.empty() ? 0 : EncodeIndexList(rest, out);
      if (n > 0) ctl_->writer.Write(FrameType::HashRequest, out);
      return n;
    };
    size_t n = request();
    local_->FillHashes(o_.push ? needs.src : needs.dst, problems_);
    std::vector<HashReplyItem> items;
    for (; n > 0; n = request()) {
      items.clear();
      while (items.size() < n) DecodeHashReply(ctl_->reader.Expect(FrameType::HashReply).payload, remote_.size(), items);
      for (size_t k = 0; k < n; ++k) {
        if (items[k].index != rest[k]) ThrowProtocolError("hash reply out of order");
        remote_[static_cast<size_t>(items[k].index)].hash = items[k].hash;
      }
      rest = rest.subspan(n);
    }
  }

  std::vector<std::unique_ptr<ByteStream>> OpenStreams(bool sending) {
    std::vector<std::unique_ptr<ByteStream>> streams;
    for (int i = 0; i < streams_; ++i) streams.push_back(OpenStream(i));
    std::string how = DescribeEncryption(*streams[0], sending);
    if (sending && o_.require_ktls) {
      const auto* tls = dynamic_cast<const TlsStream*>(streams[0].get());
      if (!tls || !tls->ktls().tx)
        throw Error(ExitCode::KtlsUnavailable, "--require-ktls: encryption would run in userspace, not the kernel: " + how);
    }
    (sending ? stats_.encryption_send : stats_.encryption_recv) = how;
    stats_.streams = streams_;
    return streams;
  }

  std::unique_ptr<ByteStream> OpenStream(int no) {
    return OpenDataConnection(link_.data_host, link_.data_port, link_.data, token_, static_cast<uint32_t>(no),
                              kConnectTimeoutMs);
  }

  void Push(const Plan& plan) {
    // Data connections first: --require-ktls must refuse before the server changes anything
    // (it applies directories and links as soon as it has the plan).
    std::vector<std::unique_ptr<ByteStream>> streams;
    if (SendsFiles(plan)) streams = OpenStreams(true);
    PlanSubset sub = SubsetForPlan(plan, local_->manifest());
    // The server deletes, but only we know about our scan errors (an unreadable source
    // directory looks exactly like a deleted one), so they stop deletions here.
    if (problems_.HasErrors() && !o_.apply.delete_on_error) deletes_dropped_ = DropDeletions(sub.plan);
    const Manifest& src = local_->manifest();
    SendManifest(*ctl_, sub.original.size(),
                 [&](size_t begin, size_t end) { return SubsetEntries(sub, src, begin, end); });
    std::string out;
    std::span<const Action> rest(sub.plan.actions);
    while (!rest.empty()) {
      out.clear();
      size_t n = EncodePlanBatch(rest, out);
      ctl_->writer.Write(FrameType::PlanBatch, out);
      rest = rest.subspan(n);
    }
    out.clear();
    ByteWriter(out).U64(sub.plan.actions.size());
    ctl_->writer.Write(FrameType::PlanEnd, out);
    ctl_->reader.Expect(FrameType::Done);  // the server made its directories; data may flow

    std::vector<SendItem> items;
    for (const Action& a : sub.plan.actions)
      if (a.kind == ActionKind::SendFile)
        items.push_back({a.src, &local_->manifest()[static_cast<size_t>(sub.original[static_cast<size_t>(a.src)])]});
    if (items.empty()) return;
    RateLimiter limiter(o_.bwlimit);
    DataSendOptions so;
    so.src_root_fd = local_->root_fd();
    so.limiter = &limiter;
    so.meter = hooks_.meter;
    so.on_sent = [this](const SentFile& s) { local_->store().Record(s.entry->path, s.key, s.hash); };
    DataSendResult r = SendFiles(std::move(streams), [this](int no) { return OpenStream(no); }, items, so, problems_);
    stats_.wire_bytes = r.wire_bytes;
  }

  static bool SendsFiles(const Plan& plan) {
    return std::any_of(plan.actions.begin(), plan.actions.end(),
                       [](const Action& a) { return a.kind == ActionKind::SendFile; });
  }

  void Pull(const Plan& plan) {
    // As for a push, --require-ktls refuses before anything here changes; the server checks
    // again when it starts sending.
    if (o_.require_ktls && SendsFiles(plan) && !remote_send_ktls_unavailable_.empty())
      throw Error(ExitCode::KtlsUnavailable,
                  "--require-ktls: the remote sender would encrypt in userspace, not the kernel: " +
                      remote_send_ktls_unavailable_);
    const Manifest& src = remote_;
    const Manifest& dst = local_->manifest();
    DestTree tree(UniqueFd(::dup(local_->root_fd())));
    RemoveStaleTemps(tree, local_->stale_temps());
    ApplyCounters counters;
    ApplyBeforeData(plan, src, dst, tree, o_.apply, problems_, counters);
    ApplyNonData(plan, src, dst, tree, o_.apply, problems_, counters);
    DataReceiveOptions ro;
    ro.apply = o_.apply;
    ro.src = &src;
    ro.meter = hooks_.meter;
    ro.on_received = [&](const ReceivedFile& f) {
      local_->store().Record(src[static_cast<size_t>(f.src_index)].path, f.info, f.hash);
    };
    for (const Action& a : plan.actions)
      if (a.kind == ActionKind::SendFile) ro.expected.push_back(a.src);
    std::string out;
    std::span<const int64_t> rest(ro.expected);
    while (!rest.empty()) {
      out.clear();
      size_t n = EncodeIndexList(rest, out);
      ctl_->writer.Write(FrameType::SendList, out);
      rest = rest.subspan(n);
    }
    ctl_->writer.Write(FrameType::Done, {});
    uint64_t skipped = 0;
    if (!ro.expected.empty()) {
      DataReceiveResult r =
          ReceiveFiles(OpenStreams(false), [this](int no) { return OpenStream(no); }, tree, ro, counters, problems_);
      stats_.wire_bytes = r.wire_bytes;
      skipped = r.skipped_by_sender;
    }
    // Deletions must see the server's errors too (its unreadable directory looks like a
    // deleted one here): read its reports before anything is deleted.
    ReadServerResult();
    if (skipped > 0 && !problems_.HasErrors())
      problems_.Fail("", RemoteName() + ": " + std::to_string(skipped) +
                             " requested files were not sent, and the server gave no reason");
    AddApplyStats(counters, ApplyAfterData(plan, src, dst, tree, o_.apply, problems_, counters), stats_);
  }

  // Reports (merged into problems_) and Result from the server, once.
  void ReadServerResult() {
    if (remote_result_) return;
    for (;;) {
      Frame f = ExpectEither(*ctl_, FrameType::Report, FrameType::Result);
      if (f.type == FrameType::Result) {
        remote_result_ = DecodeStats(f.payload);
        return;
      }
      SessionReport r = DecodeReport(f.payload);
      std::string where = RemoteName();
      if (r.kind == SessionReport::Note) {
        if (r.key == "encryption") (o_.push ? stats_.encryption_recv : stats_.encryption_send) = r.message + " (remote)";
      } else if (r.kind == SessionReport::Vanished) {
        problems_.Vanish(r.key, where + ": " + r.message);
      } else {
        problems_.Fail(r.key, where + ": " + r.message);
      }
    }
  }

  // The server's result, then Done; the local store is committed.
  void Finish() {
    ReadServerResult();
    ctl_->writer.Write(FrameType::Done, {});
    local_->CommitStore();
    ApplyRemoteStats(*remote_result_);
    link_.control->ShutdownWrite();
    if (link_.ssh) {
      link_.control.reset();
      int status = link_.ssh->Wait();
      if (status != 0 && hooks_.warn) hooks_.warn("ssh exited with status " + std::to_string(status) + " after the run");
    }
  }

  void ApplyRemoteStats(const Stats& r) {
    auto get = [&r](const char* k) -> uint64_t {
      auto it = r.find(k);
      return it == r.end() ? 0 : it->second;
    };
    const StoreStats& ls = local_->store().stats();
    const Manifest& lm = local_->manifest();
    if (o_.push) {
      stats_.src_entries = lm.size();
      stats_.src_file_bytes = local_->file_bytes();
      stats_.hashed_src = ls.hashed;
      stats_.cache_hits_src = ls.hits;
      stats_.dst_entries = get("entries");
      stats_.hashed_dst = get("hashed");
      stats_.cache_hits_dst = get("cache_hits");
      stats_.files_sent = get("files_sent");
      stats_.bytes_sent = get("bytes_sent");
      stats_.deleted = get("deleted");
      stats_.meta_fixed = get("meta_fixed");
      stats_.created_other = get("created_other");
      stats_.deletes_skipped = get("deletes_skipped") != 0 || deletes_dropped_;
    } else {
      stats_.dst_entries = lm.size();
      stats_.hashed_dst = ls.hashed;
      stats_.cache_hits_dst = ls.hits;
      stats_.src_entries = get("entries");
      stats_.src_file_bytes = get("file_bytes");
      stats_.hashed_src = get("hashed");
      stats_.cache_hits_src = get("cache_hits");
    }
  }

  const ClientOptions& o_;
  const ClientHooks& hooks_;
  Problems& problems_;
  Link link_;
  Control* ctl_ = nullptr;
  std::optional<TreeSide> local_;
  Manifest remote_;
  SessionToken token_{};
  int streams_ = kAutoStreams;
  RunStats stats_;
  std::optional<Stats> remote_result_;
  bool deletes_dropped_ = false;
  std::string remote_send_ktls_unavailable_;  // from Ready: see SessionReady
};

}  // namespace

RunStats RunClientSession(const ClientOptions& opts, const ClientHooks& hooks, Problems& problems, Plan& plan_out) {
  ClientSession s(opts, hooks, problems);
  return s.Run(plan_out);
}

}  // namespace ktsync
