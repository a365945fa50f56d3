#include "transfer/server_link.h"

#include "transfer/byte_io.h"
#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/tls_channel.h"
#include "util/error.h"

namespace ktsync {

ServerLink::ServerLink(ByteStream& control, const ServerConfig& cfg) : control_(control), cfg_(cfg) {
  Control c(control_);
  ExchangeHello(c, cfg_.peer_hello);
  request_ = DecodeRequest(c.reader.Expect(FrameType::Request).payload);
  // Checked before the client's list is held: a request refused costs no memory. The
  // client is still writing the list: it is read to its end, and dropped, so that the
  // client reads the refusal instead of failing to write.
  try {
    CheckAllowed();
  } catch (const Error&) {
    if (request_.file_list) SkipFileList(c);
    throw;
  }
  if (request_.file_list) {
    // A daemon's clients are not trusted with its memory; an ssh server runs as its user.
    FileListDecoder caps = cfg_.register_session
                               ? FileListDecoder(kMaxDaemonListedPaths, kMaxDaemonListBytes, "this ktsync daemon")
                               : FileListDecoder();
    file_list_ = ReceiveFileList(c, request_.file_list_recursive, std::move(caps));
  }
  PrepareData();
  if (cfg_.register_session) {
    reverse_ = queue_->PopReverseControl(kDataConnectTimeout);
  } else {
    AwaitRoute();
  }
}

ServerLink::~ServerLink() {
  if (registered_ && cfg_.unregister_session) cfg_.unregister_session(token_);
}

void ServerLink::CheckAllowed() const {
  if (cfg_.read_only && request_.role == ServerRole::Receive)
    throw Error(ExitCode::SelectFiles, "this ktsync daemon is read-only: clients may pull from it, not push");
  if (cfg_.write_only && request_.role == ServerRole::Send)
    throw Error(ExitCode::SelectFiles, "this ktsync daemon is write-only: clients may push to it, not pull");
  // Whether a file is wanted would then say whether a guess of its content is right.
  if (cfg_.write_only && request_.spec.plan.checksum)
    throw Error(ExitCode::SelectFiles, "this ktsync daemon is write-only: --checksum would let a client test "
                                       "guesses of its files' contents; push without -c");
  // A module is a boundary: its symlinks may point anywhere the daemon can read.
  if (!cfg_.root.empty() && request_.role == ServerRole::Send && request_.spec.copy_links)
    throw Error(ExitCode::SelectFiles, "a ktsync daemon does not follow symlinks: -L (--copy-links) could reach files "
                                       "outside the module; pull without -L");
}

std::string ServerLink::SendKtlsUnavailable() const {
  if (request_.no_encryption) return "the data connections are not encrypted (--no-encryption)";
  return KtlsSendOffReason(!(request_.no_ktls || cfg_.no_ktls));
}

void ServerLink::PrepareData() {
  token_ = RandomToken();
  SessionReady ready;
  ready.token = token_;
  if (request_.role == ServerRole::Send) ready.send_ktls_unavailable = SendKtlsUnavailable();
  if (cfg_.register_session) {
    queue_ = cfg_.register_session(token_);
    registered_ = true;
  } else if (!request_.spec.dry_run && request_.data_via != DataVia::Ssh) {
    // Listen only on the address the client reached us on over ssh, not on every interface.
    std::string host = ServerAddressFromSshConnection();
    DataSecurity sec;
    sec.encrypt = !request_.no_encryption;
    sec.allow_ktls = !(request_.no_ktls || cfg_.no_ktls);
    sec.key = request_.data_key;
    listener_ = std::make_unique<DataListener>(host, request_.data_port, sec, token_);
    queue_ = &listener_->queue();
    ready.data_port = listener_->port();
    ready.data_host = host;
  }
  if (queue_) queue_->ExpectStreams(request_.streams);
  std::string out;
  EncodeReady(ready, out);
  Control(control_).writer.Write(FrameType::Ready, out);
}

void ServerLink::AwaitRoute() {
  DataRoute route = DecodeDataRoute(Control(control_).reader.Expect(FrameType::DataRoute).payload);
  if (route == DataRoute::Direct && !listener_) ThrowProtocolError("direct data route, but no port was opened");
  if (route == DataRoute::None && !request_.spec.dry_run) ThrowProtocolError("no data route for a run that moves data");
  if (route != DataRoute::Ssh) return;
  if (request_.spec.dry_run) ThrowProtocolError("a dry run moves no data, yet the client routed it inside ssh");
  listener_.reset();
  queue_ = nullptr;
  mux_ = std::make_unique<Mux>(control_, Mux::Side::Server);
  channel_ = mux_->Control();
}

std::unique_ptr<ByteStream> ServerLink::TakeData() {
  if (mux_) return mux_->Accept(kDataConnectTimeout);
  if (!queue_) throw Error(ExitCode::StreamData, "no data channel was prepared for this session");
  return queue_->Pop(kDataConnectTimeout);
}

void ServerLink::AbortData(const std::string& why) {
  if (queue_) queue_->Close(why);
}

void ServerLink::SendError(const Error& e) noexcept {
  Control c(out());
  ktsync::SendError(c, e);
}

}  // namespace ktsync
