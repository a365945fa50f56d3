#include "transfer/server_session.h"

#include <unistd.h>

#include <optional>

#include "apply/apply_plan.h"
#include "mirror/tree_side.h"
#include "transfer/byte_io.h"
#include "transfer/data_channel.h"
#include "transfer/net.h"
#include "transfer/plan_check.h"
#include "transfer/plan_subset.h"
#include "transfer/rate_limiter.h"
#include "transfer/secret.h"
#include "transfer/session_messages.h"
#include "transfer/tls_channel.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr auto kDataConnectTimeout = std::chrono::seconds(30);

class ServerSession {
 public:
  ServerSession(ByteStream& s, const ServerConfig& cfg) : c_(s), cfg_(cfg) {}
  ~ServerSession() {
    if (registered_ && cfg_.unregister_session) cfg_.unregister_session(token_);
  }

  void Run() {
    ExchangeHello(c_, cfg_.peer_hello);
    req_ = DecodeRequest(c_.reader.Expect(FrameType::Request).payload);
    CheckAllowed();
    OpenTree();
    PrepareData();
    tree_->Scan(problems_);
    SendManifest(c_, tree_->manifest());
    for (;;) {
      Frame f = NextFrame();
      if (f.type == FrameType::HashRequest) {
        AnswerHashes(f.payload);
      } else if (f.type == FrameType::SendList && req_.role == ServerRole::Send && !req_.dry_run) {
        SendRequestedFiles(f.payload);
        break;
      } else if (f.type == FrameType::ManifestBatch && req_.role == ServerRole::Receive && !req_.dry_run) {
        ReceivePlanAndFiles(f.payload);
        break;
      } else if (f.type == FrameType::Done) {
        break;  // dry run, or nothing to do
      } else {
        ThrowProtocolError(std::string("unexpected ") + FrameTypeName(f.type) + " from the client");
      }
    }
    tree_->CommitStore();
    SendResult();
    c_.reader.Expect(FrameType::Done);
  }

 private:
  Frame NextFrame() {
    std::optional<Frame> f = c_.reader.Next();
    if (!f) throw Error(ExitCode::SocketIo, "client closed the control connection");
    if (f->type == FrameType::Error) {
      ErrorMessage e = DecodeError(f->payload);
      throw Error(e.code, "client gave up: " + e.message);
    }
    return *f;
  }

  // ManifestEnd / PlanEnd carry the number of items sent: a lost or extra batch must end
  // the run, not shrink or grow the plan silently.
  static void ExpectCount(const Frame& end, uint64_t have, const char* what) {
    ByteReader r(end.payload, FrameTypeName(end.type));
    if (r.U64("count") != have) r.Fail(std::string(what) + " count does not match the " + what + "s sent");
    r.ExpectEnd();
  }

  void CheckAllowed() {
    if (cfg_.read_only && req_.role == ServerRole::Receive)
      throw Error(ExitCode::SelectFiles, "this ktsync daemon is read-only: clients may pull from it, not push");
    if (cfg_.write_only && req_.role == ServerRole::Send)
      throw Error(ExitCode::SelectFiles, "this ktsync daemon is write-only: clients may push to it, not pull");
  }

  void OpenTree() {
    TreeConfig tc;
    tc.state_dir = cfg_.state_dir;
    tc.one_file_system = req_.one_file_system;
    tc.hard_links = req_.plan.hard_links;
    tc.filters = req_.filters;
    auto warn = [this](const std::string& m) { Log(m); };
    bool dest = req_.role == ServerRole::Receive;
    if (!cfg_.root.empty()) {
      std::string rel = req_.path;
      while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
      while (!rel.empty() && rel.back() == '/') rel.pop_back();
      tree_.emplace(TreeSide::OpenBeneath(cfg_.root, rel, dest, req_.dry_run, tc, warn));
    } else if (req_.path.empty() || req_.path[0] != '/') {
      throw Error(ExitCode::SelectFiles, "remote path '" + req_.path + "' must be absolute");
    } else if (dest) {
      tree_.emplace(TreeSide::OpenDest(req_.path, tc, req_.dry_run, warn));
    } else {
      tree_.emplace(TreeSide::OpenSource(req_.path, tc, warn));
    }
  }

  std::string SendKtlsUnavailable() const {
    if (req_.no_encryption) return "the data connections are not encrypted (--no-encryption)";
    return KtlsSendOffReason(!(req_.no_ktls || cfg_.no_ktls));
  }

  void PrepareData() {
    token_ = RandomToken();
    SessionReady ready;
    ready.token = token_;
    if (req_.role == ServerRole::Send) ready.send_ktls_unavailable = SendKtlsUnavailable();
    if (cfg_.register_session) {
      queue_ = cfg_.register_session(token_);
      registered_ = true;
    } else if (!req_.dry_run) {
      // Listen only on the address the client reached us on over ssh, not on every interface.
      std::string host = ServerAddressFromSshConnection();
      DataSecurity sec;
      sec.encrypt = !req_.no_encryption;
      sec.allow_ktls = !(req_.no_ktls || cfg_.no_ktls);
      sec.key = req_.data_key;
      listener_ = std::make_unique<DataListener>(host, req_.data_port, sec, token_);
      queue_ = &listener_->queue();
      ready.data_port = listener_->port();
      ready.data_host = host;
    }
    std::string out;
    EncodeReady(ready, out);
    c_.writer.Write(FrameType::Ready, out);
  }

  void AnswerHashes(std::string_view payload) {
    std::vector<int64_t> indices;
    DecodeIndexList(payload, tree_->manifest().size(), indices);
    tree_->FillHashes(indices, problems_);
    std::vector<HashReplyItem> items;
    items.reserve(indices.size());
    for (int64_t i : indices) items.push_back({i, tree_->manifest()[static_cast<size_t>(i)].hash});
    std::string out;
    std::span<const HashReplyItem> rest(items);
    do {
      out.clear();
      size_t n = EncodeHashReply(rest, out);
      c_.writer.Write(FrameType::HashReply, out);
      rest = rest.subspan(n);
    } while (!rest.empty());
  }

  std::vector<std::unique_ptr<ByteStream>> TakeStreams() {
    if (!queue_) throw Error(ExitCode::StreamData, "no data channel was prepared for this session");
    std::vector<std::unique_ptr<ByteStream>> streams;
    for (int i = 0; i < req_.streams; ++i) streams.push_back(queue_->Pop(kDataConnectTimeout));
    return streams;
  }

  StreamOpener Reopener() {
    return [this](int) { return queue_->Pop(kDataConnectTimeout); };
  }

  void SendRequestedFiles(std::string_view first) {
    const Manifest& m = tree_->manifest();
    std::vector<int64_t> indices;
    DecodeIndexList(first, m.size(), indices);
    for (Frame f = NextFrame(); f.type != FrameType::Done; f = NextFrame()) {
      if (f.type != FrameType::SendList) ThrowProtocolError("expected SendList or its end");
      DecodeIndexList(f.payload, m.size(), indices);
    }
    std::vector<SendItem> items;
    items.reserve(indices.size());
    for (int64_t i : indices) {
      const Entry& e = m[static_cast<size_t>(i)];
      if (!e.IsFile()) ThrowProtocolError("client asked for '" + e.path + "', which is not a regular file");
      items.push_back({i, &e});
    }
    auto streams = TakeStreams();
    encryption_ = DescribeEncryption(*streams[0], /*send=*/true);
    const auto* tls = dynamic_cast<const TlsStream*>(streams[0].get());
    if (req_.require_ktls && (!tls || !tls->ktls().tx))
      throw Error(ExitCode::KtlsUnavailable,
                  "--require-ktls: the remote sender would encrypt in userspace, not the kernel: " + encryption_);
    RateLimiter limiter(req_.bwlimit);
    DataSendOptions so;
    so.src_root_fd = tree_->root_fd();
    so.limiter = &limiter;
    so.on_sent = [this](const SentFile& s) { tree_->store().Record(s.entry->path, s.key, s.hash); };
    DataSendResult r = SendFiles(std::move(streams), Reopener(), items, so, problems_);
    stats_["files_sent"] = r.files;
    stats_["bytes_sent"] = r.bytes;
    stats_["wire_bytes"] = r.wire_bytes;
  }

  void ReceivePlanAndFiles(std::string_view first) {
    Manifest src;
    DecodeEntryBatch(first, src);
    Frame f = NextFrame();
    for (; f.type != FrameType::ManifestEnd; f = NextFrame()) {
      if (f.type != FrameType::ManifestBatch) ThrowProtocolError("expected the plan's file list");
      DecodeEntryBatch(f.payload, src);
    }
    ExpectCount(f, src.size(), "entry");
    Plan plan;
    const Manifest& dst = tree_->manifest();
    // A real plan has a few actions per entry (replace, create, directory metadata); more
    // is a client trying to make us hold an unbounded list.
    const uint64_t max_actions = 4 * (src.size() + dst.size()) + 64;
    for (f = NextFrame(); f.type != FrameType::PlanEnd; f = NextFrame()) {
      if (f.type != FrameType::PlanBatch) ThrowProtocolError("expected the plan");
      DecodePlanBatch(f.payload, src.size(), dst.size(), plan.actions);
      if (plan.actions.size() > max_actions)
        ThrowProtocolError("plan has more than " + std::to_string(max_actions) + " actions for " +
                           std::to_string(src.size() + dst.size()) + " entries");
    }
    ExpectCount(f, plan.actions.size(), "action");
    CheckReceivedPlan(plan, src, dst);

    ApplyOptions ao;
    ao.meta = {req_.plan.perms, req_.plan.times, req_.plan.owner, req_.plan.group};
    ao.fsync = req_.fsync;
    ao.delete_on_error = req_.delete_on_error;
    DestTree tree(UniqueFd(::dup(tree_->root_fd())));
    RemoveStaleTemps(tree, tree_->stale_temps());
    ApplyCounters counters;
    ApplyBeforeData(plan, src, dst, tree, ao, problems_, counters);
    ApplyNonData(plan, src, dst, tree, ao, problems_, counters);
    c_.writer.Write(FrameType::Done, {});  // ready for data

    DataReceiveOptions ro;
    ro.apply = ao;
    ro.src = &src;
    ro.on_received = [&](const ReceivedFile& f) {
      tree_->store().Record(src[static_cast<size_t>(f.src_index)].path, f.info, f.hash);
    };
    for (const Action& a : plan.actions)
      if (a.kind == ActionKind::SendFile) ro.expected.push_back(a.src);
    bool dropped_deletes = false;
    if (!ro.expected.empty()) {
      auto streams = TakeStreams();
      encryption_ = DescribeEncryption(*streams[0], /*send=*/false);
      DataReceiveResult r = ReceiveFiles(std::move(streams), Reopener(), tree, ro, counters, problems_);
      stats_["wire_bytes"] = r.wire_bytes;
      // The client could not send some files (unreadable, changed): it reports them itself,
      // but its error must stop our deletions as one of ours would.
      if (r.skipped_by_sender > 0 && !ao.delete_on_error) dropped_deletes = DropDeletions(plan);
    }
    ApplyResult ar = ApplyAfterData(plan, src, dst, tree, ao, problems_, counters);
    stats_["files_sent"] = counters.files_written.load();
    stats_["bytes_sent"] = counters.bytes_written.load();
    stats_["deleted"] = counters.deleted.load();
    stats_["meta_fixed"] = counters.meta_fixed.load();
    stats_["created_other"] = counters.created_other.load();
    stats_["deletes_skipped"] = ar.deletes_skipped || dropped_deletes ? 1 : 0;
  }

  void SendResult() {
    std::string out;
    for (const Problem& p : problems_.Snapshot()) {
      out.clear();
      SessionReport r{p.kind == ProblemKind::Vanished ? SessionReport::Vanished : SessionReport::Failed, p.path,
                      p.message};
      EncodeReport(r, out);
      c_.writer.Write(FrameType::Report, out);
    }
    if (!encryption_.empty()) {
      out.clear();
      EncodeReport({SessionReport::Note, "encryption", encryption_}, out);
      c_.writer.Write(FrameType::Report, out);
    }
    const StoreStats& ss = tree_->store().stats();
    stats_["entries"] = tree_->manifest().size();
    stats_["file_bytes"] = tree_->file_bytes();
    stats_["hashed"] = ss.hashed;
    stats_["cache_hits"] = ss.hits;
    out.clear();
    EncodeStats(stats_, out);
    c_.writer.Write(FrameType::Result, out);
  }

  void Log(const std::string& m) {
    if (cfg_.log) cfg_.log(m);
  }

  Control c_;
  const ServerConfig& cfg_;
  SessionRequest req_;
  std::optional<TreeSide> tree_;
  Problems problems_;
  SessionToken token_{};
  bool registered_ = false;
  DataQueue* queue_ = nullptr;
  std::unique_ptr<DataListener> listener_;
  std::string encryption_;
  Stats stats_;
};

}  // namespace

int RunServerSession(ByteStream& control, const ServerConfig& cfg) {
  ServerSession session(control, cfg);
  Control c(control);
  try {
    session.Run();
    return 0;
  } catch (const Error& e) {
    SendError(c, e);  // the client prints it; the daemon logs the exit code
    return static_cast<int>(e.code());
  }
}

}  // namespace ktsync
