#include "transfer/server_link.h"

#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/tls_channel.h"
#include "util/error.h"

namespace ktsync {

ServerLink::ServerLink(ByteStream& control, const ServerConfig& cfg) : control_(control), cfg_(cfg) {
  Control c(control_);
  ExchangeHello(c, cfg_.peer_hello);
  request_ = DecodeRequest(c.reader.Expect(FrameType::Request).payload);
  CheckAllowed();
  PrepareData();
  if (cfg_.register_session) reverse_ = queue_->PopReverseControl(kDataConnectTimeout);
}

ServerLink::~ServerLink() {
  if (registered_ && cfg_.unregister_session) cfg_.unregister_session(token_);
}

void ServerLink::CheckAllowed() const {
  if (cfg_.read_only && request_.role == ServerRole::Receive)
    throw Error(ExitCode::SelectFiles, "this ktsync daemon is read-only: clients may pull from it, not push");
  if (cfg_.write_only && request_.role == ServerRole::Send)
    throw Error(ExitCode::SelectFiles, "this ktsync daemon is write-only: clients may push to it, not pull");
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
  } else if (!request_.spec.dry_run) {
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
  std::string out;
  EncodeReady(ready, out);
  Control(control_).writer.Write(FrameType::Ready, out);
}

std::unique_ptr<ByteStream> ServerLink::TakeData() {
  if (!queue_) throw Error(ExitCode::StreamData, "no data channel was prepared for this session");
  return queue_->Pop(kDataConnectTimeout);
}

void ServerLink::SendError(const Error& e) noexcept {
  Control c(out());
  ktsync::SendError(c, e);
}

}  // namespace ktsync
