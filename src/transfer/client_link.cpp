#include "transfer/client_link.h"

#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/serve_config.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr int kConnectTimeoutMs = 15000;
// --data-via auto: how long a direct data connection may take (connect and TLS handshake)
// before data goes inside ssh. Short: a firewall that drops packets costs every run this.
constexpr int kProbeTimeoutMs = 2000;

}  // namespace

ClientLink::ClientLink(const RemoteTarget& target, SessionRequest request, bool no_encryption, bool no_ktls,
                       int timeout_sec, std::shared_ptr<const FileList> file_list)
    : target_(target), request_(std::move(request)), file_list_(std::move(file_list)) {
  name_ = (target.daemon ? "ktsync://" + FormatHostPort(target.host, target.port) : target.host + ":") + target.path;
  data_.encrypt = !no_encryption;
  data_.allow_ktls = !no_ktls;
  data_.io_timeout_sec = timeout_sec;
  Connect();
  Greet();
}

ClientLink::~ClientLink() {
  first_data_.reset();
  control_.reset();
  reverse_.reset();
  mux_.reset();
  if (ssh_) ssh_->Wait();
}

void ClientLink::Connect() {
  if (!target_.daemon) {
    ssh_ = std::make_unique<SshProcess>();
    ssh_->Spawn(BuildSshArgv(target_.ssh_command, target_.user, target_.host, target_.remote_ktsync));
    control_ = std::make_unique<FdStream>(std::move(ssh_->from_remote()), std::move(ssh_->to_remote()),
                                          target_.host + " (over ssh)");
    data_.key = RandomKey();  // fresh for this run; travels only inside ssh
    data_.identity = kDataIdentity;
    request_.data_key = data_.key;
    return;
  }
  if (target_.secret_file.empty())
    throw Error(ExitCode::Usage, "ktsync://" + target_.host + " needs --secret-file FILE with the daemon's secret");
  std::string secret = ReadSecretFile(target_.secret_file, /*enforce_private=*/true);
  TlsParams p;
  p.key = DeriveKey(secret, "daemon");
  p.identity = DaemonIdentityFor(target_.path);  // names the module, whose secret this is
  p.allow_ktls = false;  // control traffic is small; kTLS is for the data path
  p.handshake_timeout_ms = kConnectTimeoutMs;
  p.peer_name = FormatHostPort(target_.host, target_.port);
  UniqueFd sock = ConnectTcp(target_.host, target_.port, kConnectTimeoutMs);
  if (data_.io_timeout_sec > 0) SetIoTimeout(sock.get(), data_.io_timeout_sec);
  control_ = TlsStream::Connect(std::move(sock), p);
  data_.key = p.key;
  data_.identity = p.identity;
  data_host_ = target_.host;
  data_port_ = target_.port;
  if (!request_.spec.dry_run) data_path_ = {"daemon", "TLS to the daemon's port " + FormatHostPort(data_host_, data_port_)};
}

void ClientLink::Greet() {
  Control c(*control_);
  try {
    ExchangeHello(c);
  } catch (const Error& e) {
    // An early failure over ssh is usually ssh's (or a missing remote ktsync): say which.
    if (!ssh_) throw;
    control_.reset();
    int status = ssh_->Wait();
    if (status == 0) throw;
    ExitCode code = ExitCode::StartProtocol;
    std::string msg = DescribeSshExit(status, target_.host, target_.remote_ktsync, &code);
    throw Error(code, msg);
  }
  std::string out;
  EncodeRequest(request_, out);
  c.writer.Write(FrameType::Request, out);
  if (request_.file_list) SendFileList(c, *file_list_);
  ready_ = DecodeReady(c.reader.Expect(FrameType::Ready).payload);
  if (!target_.daemon) {
    data_host_ = ready_.data_host.empty() ? target_.host : ready_.data_host;
    data_port_ = ready_.data_port;
    RouteData();
    return;
  }
  reverse_ = OpenDataConnection(data_host_, data_port_, data_, ready_.token, kReverseControlStream, kConnectTimeoutMs);
}

DataRoute ClientLink::ChooseRoute() {
  if (request_.spec.dry_run) return DataRoute::None;
  if (request_.data_via == DataVia::Ssh) {
    data_path_ = {"ssh", "--data-via ssh"};
    return DataRoute::Ssh;
  }
  // The first data connection is the proof that direct works; it becomes stream 0.
  const bool fall_back = request_.data_via == DataVia::Auto;
  try {
    first_data_ = OpenDataConnection(data_host_, data_port_, data_, ready_.token, 0,
                                     fall_back ? kProbeTimeoutMs : kConnectTimeoutMs);
    data_path_ = {"direct", "direct TCP to " + FormatHostPort(data_host_, data_port_)};
    return DataRoute::Direct;
  } catch (const Error& e) {
    if (!fall_back) {
      throw Error(ExitCode::SocketIo, std::string("no direct data connection: ") + e.what() +
                                          "; --data-via direct does not fall back (--data-via auto carries data inside ssh)");
    }
    data_path_ = {"ssh", std::string(e.what()) + "; data inside ssh"};
    return DataRoute::Ssh;
  }
}

void ClientLink::RouteData() {
  DataRoute route = ChooseRoute();
  if (route == DataRoute::Ssh && request_.require_ktls) {
    throw Error(ExitCode::KtlsUnavailable, "--require-ktls: data would travel inside ssh (" + data_path_.why +
                                               "), encrypted by ssh, not kernel TLS");
  }
  std::string out;
  EncodeDataRoute(route, out);
  FrameWriter(*control_).Write(FrameType::DataRoute, out);
  if (route != DataRoute::Ssh) return;
  ByteStream& carrier = *control_;
  mux_ = std::make_unique<Mux>(carrier, Mux::Side::Client, std::move(control_));
  control_ = mux_->Control();
}

std::unique_ptr<ByteStream> ClientLink::OpenData(int no) {
  if (first_data_) return std::move(first_data_);
  if (mux_) return mux_->Open();
  return OpenDataConnection(data_host_, data_port_, data_, ready_.token, static_cast<uint32_t>(no), kConnectTimeoutMs);
}

std::string ClientLink::Close() {
  control_->ShutdownWrite();
  if (!ssh_) return "";
  if (mux_) mux_->Finish();  // until the remote ends: its last words may still be in flight
  first_data_.reset();
  control_.reset();
  reverse_.reset();
  mux_.reset();
  int status = ssh_->Wait();
  ssh_.reset();
  return status == 0 ? "" : "ssh exited with status " + std::to_string(status) + " after the run";
}

}  // namespace ktsync
