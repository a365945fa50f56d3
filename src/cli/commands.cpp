#include "cli/commands.h"

#include <unistd.h>

#include <iostream>
#include <optional>

#include "cli/endpoint.h"
#include "cli/output.h"
#include "cli/progress.h"
#include "mirror/run.h"
#include "transfer/daemon.h"
#include "util/error.h"

namespace ktsync {
namespace {

RemoteTarget TargetOf(const Endpoint& e, const MirrorOptions& o) {
  RemoteTarget t;
  t.daemon = e.kind == Endpoint::Kind::Daemon;
  t.user = e.user;
  t.host = e.host;
  t.port = e.port;
  t.path = e.path;
  t.ssh_command = o.ssh_command;
  t.remote_ktsync = o.remote_ktsync;
  t.secret_file = o.secret_file;
  return t;
}

RunSpec MakeRunSpec(const MirrorOptions& o, const Endpoint& src, const Endpoint& dst) {
  RunSpec r;
  r.spec = o.spec;
  r.state_dir = o.state_dir;
  r.src = src.path;
  r.dst = dst.path;
  if (src.remote() || dst.remote()) {
    r.push = dst.remote();
    r.remote = TargetOf(r.push ? dst : src, o);
  }
  r.net = o.net;
  r.file_list = o.file_list;  // read here; a pull sends it to the server (wire.h)
  return r;
}

ItemContext WhereOf(const MirrorOptions& o) {
  ItemContext c;
  c.src_root = o.src;
  c.dst_root = o.dst;
  return c;
}

// The progress line is the Reporter's while it lives (declared after it, gone before it).
class ProgressAttached {
 public:
  ProgressAttached(Reporter& rep, ProgressLine& line) : rep_(rep) { rep_.SetProgress(&line); }
  ~ProgressAttached() { rep_.SetProgress(nullptr); }
  ProgressAttached(const ProgressAttached&) = delete;
  ProgressAttached& operator=(const ProgressAttached&) = delete;

 private:
  Reporter& rep_;
};

}  // namespace

int RunMirrorCommand(const MirrorOptions& opts) {
  Reporter rep(opts.out, opts.spec.dry_run, WhereOf(opts));
  Endpoint src, dst;
  try {
    src = ParseEndpoint(opts.src);
    dst = ParseEndpoint(opts.dst);
  } catch (const Error& e) {
    try {
      rep.OpenLog();  // the mistake is logged when it can be; else it alone is reported
    } catch (const Error&) {
    }
    rep.Error(e.what(), static_cast<int>(e.code()));
    return static_cast<int>(e.code());
  }
  rep.SetDirection(dst.remote(), src.remote());
  try {
    rep.OpenLog();
    if (src.remote() && dst.remote())
      throw Error(ExitCode::Usage, "SRC and DST are both remote; one side must be local (run ktsync on one of the hosts)");
    RunSpec run = MakeRunSpec(opts, src, dst);
    if (run.net.no_encryption && run.remote && !run.remote->daemon)
      rep.Warn("--no-encryption: file data will cross the network in plaintext");
    TransferMeter meter;
    std::optional<ProgressLine> progress;
    std::optional<ProgressAttached> attached;
    if (!opts.spec.dry_run) {
      progress.emplace(opts.out, meter, [&rep](const std::string& l) { rep.JsonLine(l); }, rep.started());
      attached.emplace(rep, *progress);
    }
    Problems problems;
    RunResult result = RunMirror(run, problems, rep, &meter);
    if (progress) progress->Finish(!problems.HasErrors());
    rep.Problems(problems);
    int code = static_cast<int>(RunExitCode(problems, result.stats));
    rep.Summary(result.totals, result.stats, code);
    return code;
  } catch (const Error& e) {
    rep.Error(e.what(), static_cast<int>(e.code()));
    return static_cast<int>(e.code());
  }
}

int RunServeCommand(const ServeOptions& o) {
  if (!o.stdio) return RunDaemon(o.daemon, ServeSession);
  // Started by a client over ssh: stdout is the protocol, so nothing else may print there.
  FdStream control(UniqueFd(::dup(0)), UniqueFd(::dup(1)), "client");
  ServerConfig sc;
  sc.state_dir = o.daemon.state_dir;
  sc.no_ktls = o.daemon.no_ktls;
  sc.log = [](const std::string& m) { std::cerr << "ktsync (remote): " << m << "\n"; };
  return ServeSession(control, sc);
}

}  // namespace ktsync
