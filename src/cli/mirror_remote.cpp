// Network mirror and `serve`: turns command-line options into a client or server session.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/endpoint.h"
#include "cli/mirror_run.h"
#include "cli/progress.h"
#include "transfer/client_session.h"
#include "transfer/daemon.h"
#include "transfer/server_session.h"
#include "transfer/stream.h"
#include "util/error.h"

namespace ktsync {
namespace {

RemoteTarget MakeTarget(const Endpoint& e, const MirrorOptions& o) {
  RemoteTarget t;
  t.daemon = e.kind == Endpoint::Kind::Daemon;
  t.user = e.user;
  t.host = e.host;
  t.port = e.port;
  t.path = e.path;
  t.ssh_command = o.ssh_command;
  t.remote_ktsync = o.remote_ktsync;
  t.secret_file = o.secret_file;
  if (t.daemon && o.no_encryption)
    throw Error(ExitCode::Usage, "--no-encryption is only for host:/path (ssh) remotes; a daemon always uses TLS");
  return t;
}

}  // namespace

int RunRemoteMirror(const MirrorOptions& o, Reporter& rep) {
  Endpoint src = ParseEndpoint(o.src);
  Endpoint dst = ParseEndpoint(o.dst);
  ClientOptions co;
  co.push = dst.remote();
  co.remote = MakeTarget(co.push ? dst : src, o);
  co.local_path = co.push ? src.path : dst.path;
  co.dry_run = o.dry_run;
  co.plan = o.plan;
  co.tree = MakeTreeConfig(o);
  co.apply = MakeApplyOptions(o);
  co.max_delete = o.max_delete;
  co.max_delete_percent = o.max_delete_percent;
  co.streams = o.streams;
  co.data_port = o.data_port;
  co.bwlimit = o.bwlimit;
  co.require_ktls = o.require_ktls;
  co.no_ktls = o.no_ktls;
  co.no_encryption = o.no_encryption;
  co.timeout_sec = o.timeout_sec;
  if (o.no_encryption) rep.Warn("--no-encryption: file data will cross the network in plaintext");

  TransferMeter meter;
  std::optional<ProgressLine> progress;
  ClientHooks hooks;
  hooks.warn = [&rep](const std::string& m) { rep.Warn(m); };
  hooks.meter = &meter;
  hooks.on_plan = [&](const Plan& p, const Manifest& s, const Manifest& d) {
    rep.PlanItems(p, s, d, co.push);
    if (!o.dry_run) progress.emplace(o.out, meter, p.totals.files_to_send, p.totals.bytes_to_send);
  };
  Problems problems;
  Plan plan;
  RunStats stats = RunClientSession(co, hooks, problems, plan);
  if (progress) progress->Finish(!problems.HasErrors());
  return FinishRun(rep, plan, stats, problems);
}

int RunServeCommand(const ServeOptions& o) {
  if (!o.stdio) {
    DaemonConfig d;
    d.listen = o.listen;
    d.root = o.root;
    d.secret_file = o.secret_file;
    d.state_dir = o.state_dir;
    d.read_only = o.read_only;
    d.write_only = o.write_only;
    d.max_connections = o.max_connections;
    d.auth_timeout_sec = o.auth_timeout_sec;
    d.no_ktls = o.no_ktls;
    d.verbose = o.verbose;
    return RunDaemon(d);
  }
  // Started by a client over ssh: stdout is the protocol, so nothing else may print there.
  FdStream control(UniqueFd(::dup(0)), UniqueFd(::dup(1)), "client");
  ServerConfig sc;
  sc.state_dir = o.state_dir;
  sc.no_ktls = o.no_ktls;
  sc.log = [](const std::string& m) { std::cerr << "ktsync (remote): " << m << "\n"; };
  return RunServerSession(control, sc);
}

}  // namespace ktsync
