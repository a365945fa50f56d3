#include "transfer/tls_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "transfer/ktls_probe.h"

namespace ktsync {

namespace {

constexpr size_t kTlsRecordBytes = 16384;  // the most plaintext one TLS record carries
constexpr unsigned char kAes128GcmSha256[] = {0x13, 0x01};

bool KtlsDisabledByEnv() {
  const char* v = std::getenv("KTSYNC_NO_KTLS");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

std::string PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN] = "";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "peer";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "peer";
}

// OpenSSL's per-thread error queue, drained: reason codes to classify, text to show.
struct SslErrors {
  std::vector<int> reasons;
  std::string text;
  bool Has(int reason) const { return std::find(reasons.begin(), reasons.end(), reason) != reasons.end(); }
};

SslErrors DrainSslErrors() {
  SslErrors e;
  while (unsigned long code = ERR_get_error()) {
    e.reasons.push_back(ERR_GET_REASON(code));
    const char* reason = ERR_reason_error_string(code);
    if (!e.text.empty()) e.text += "; ";
    e.text += reason ? reason : "OpenSSL error " + std::to_string(code);
  }
  if (e.text.empty()) e.text = "unknown TLS error";
  return e;
}

}  // namespace

// OpenSSL calls back with only the SSL*; the TlsStream rides along as its app data.
struct TlsCallbacks {
  static TlsStream* Self(SSL* ssl) { return static_cast<TlsStream*>(SSL_get_app_data(ssl)); }

  static SSL_SESSION* MakePskSession(SSL* ssl) {
    const TlsStream* self = Self(ssl);
    const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kAes128GcmSha256);
    SSL_SESSION* sess = SSL_SESSION_new();
    if (cipher == nullptr || sess == nullptr || !SSL_SESSION_set1_master_key(sess, self->key_.data(), self->key_.size()) ||
        !SSL_SESSION_set_cipher(sess, cipher) || !SSL_SESSION_set_protocol_version(sess, TLS1_3_VERSION)) {
      SSL_SESSION_free(sess);
      return nullptr;
    }
    return sess;
  }

  static int UsePsk(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* idlen, SSL_SESSION** sess) {
    *sess = nullptr;
    *id = nullptr;
    *idlen = 0;
    SSL_SESSION* s = MakePskSession(ssl);
    if (s == nullptr) return 0;
    if (md != nullptr && SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s)) != md) {
      SSL_SESSION_free(s);  // not usable with the hash of the suite chosen after a retry
      return 1;
    }
    const std::string& identity = Self(ssl)->identity_;
    *sess = s;  // OpenSSL takes ownership
    *id = reinterpret_cast<const unsigned char*>(identity.data());
    *idlen = identity.size();
    return 1;
  }

  static int FindPsk(SSL* ssl, const unsigned char* id, size_t idlen, SSL_SESSION** sess) {
    TlsStream* self = Self(ssl);
    *sess = nullptr;
    std::string_view offered(reinterpret_cast<const char*>(id), idlen);
    std::optional<TlsParams::Key> key;
    if (self->find_key_) {
      key = self->find_key_(offered);
    } else if (offered == self->identity_) {
      key = self->key_;
    }
    if (!key) {
      self->unknown_identity_ = true;  // no PSK: without a certificate the handshake then fails
      return 1;
    }
    self->key_ = *key;
    self->identity_ = offered;
    OPENSSL_cleanse(key->data(), key->size());
    *sess = MakePskSession(ssl);
    return *sess != nullptr;
  }

  // Runs inside SSL_read for every received handshake message. After the handshake the only
  // ones TLS 1.3 could bring are KeyUpdate and NewSessionTicket; both are refused, so only
  // remember it here (a callback cannot abort) and let ReadSome fail the stream.
  static void OnMessage(int write_p, int, int content_type, const void* buf, size_t len, SSL* ssl, void*) {
    TlsStream* self = Self(ssl);
    if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0 || !self->handshake_done_) return;
    if (self->post_handshake_msg_ < 0) self->post_handshake_msg_ = static_cast<const unsigned char*>(buf)[0];
  }
};

void TlsStream::SslFree::operator()(ssl_st* p) const { SSL_free(p); }
void TlsStream::CtxFree::operator()(ssl_ctx_st* p) const { SSL_CTX_free(p); }

std::unique_ptr<TlsStream> TlsStream::Connect(UniqueFd sock, const TlsParams& params) {
  return Start(std::move(sock), params, false);
}

std::unique_ptr<TlsStream> TlsStream::Accept(UniqueFd sock, const TlsParams& params) {
  return Start(std::move(sock), params, true);
}

std::unique_ptr<TlsStream> TlsStream::Start(UniqueFd sock, const TlsParams& params, bool server) {
  IgnoreSigpipe();
  DisableNagle(sock.get());
  std::string peer = params.peer_name.empty() ? PeerAddress(sock.get()) : params.peer_name;
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(sock), params, server, std::move(peer)));
  s->Handshake(params.handshake_timeout_ms);
  return s;
}

TlsStream::TlsStream(UniqueFd sock, const TlsParams& params, bool server, std::string peer)
    : ByteStream(std::move(peer)),
      sock_(std::move(sock)),
      key_(params.key),
      identity_(params.identity.empty() ? "ktsync" : params.identity),  // TLS forbids an empty one
      find_key_(server ? params.find_key : nullptr),
      server_(server),
      allow_ktls_(params.allow_ktls && !KtlsDisabledByEnv()) {
  auto setup_failed = [this](const char* what) {
    return Error(ExitCode::StartProtocol, this->peer() + ": TLS setup failed (" + what + "): " + DrainSslErrors().text);
  };
  ctx_.reset(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx_) throw setup_failed("SSL_CTX_new");
  SSL_CTX* ctx = ctx_.get();
  // No SSL_OP_ALLOW_NO_DHE_KEX: every handshake mixes in a fresh (EC)DHE share.
  uint64_t options = SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION;
  if (allow_ktls_) options |= SSL_OP_ENABLE_KTLS;
  SSL_CTX_set_options(ctx, options);
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
      !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") || !SSL_CTX_set_num_tickets(ctx, 0)) {
    throw setup_failed("TLS 1.3 configuration");
  }
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (server) {
    SSL_CTX_set_psk_find_session_callback(ctx, TlsCallbacks::FindPsk);
  } else {
    SSL_CTX_set_psk_use_session_callback(ctx, TlsCallbacks::UsePsk);
    // No trusted CAs: a server that offers a certificate instead of the PSK is refused.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  ssl_.reset(SSL_new(ctx));
  if (!ssl_ || !SSL_set_fd(ssl_.get(), sock_.get())) throw setup_failed("SSL_new");
  SSL_set_app_data(ssl_.get(), this);
  SSL_set_msg_callback(ssl_.get(), TlsCallbacks::OnMessage);
  pending_.reserve(kTlsRecordBytes);
}

TlsStream::~TlsStream() { OPENSSL_cleanse(key_.data(), key_.size()); }

void TlsStream::Handshake(int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  int fd = sock_.get();
  int flags = fcntl(fd, F_GETFL);
  // Non-blocking only while handshaking, so a silent peer cannot stall us past the deadline.
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    throw SysError(peer() + ": fcntl on the connection", errno, ExitCode::SocketIo);
  }
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (server_) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
  }
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    int sys_errno = errno;
    if (r == 1) break;
    int err = SSL_get_error(ssl_.get(), r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) ThrowHandshakeError(err, sys_errno);
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT), 0};
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        throw Error(ExitCode::Timeout, peer() + ": TLS handshake timed out after " + std::to_string(timeout_ms) +
                                           " ms (is the peer a ktsync expecting TLS on this port?)");
      }
      int pr = poll(&p, 1, static_cast<int>(std::min<long long>(left, 60000)));
      if (pr > 0) break;
      if (pr < 0 && errno != EINTR) throw SysError(peer() + ": poll", errno, ExitCode::SocketIo);
    }
  }
  if (fcntl(fd, F_SETFL, flags) < 0) throw SysError(peer() + ": fcntl on the connection", errno, ExitCode::SocketIo);
  CheckAuthenticated();
  handshake_done_ = true;
  ktls_.tx = BIO_get_ktls_send(SSL_get_wbio(ssl_.get()));
  ktls_.rx = BIO_get_ktls_recv(SSL_get_rbio(ssl_.get()));
  if (!ktls_.tx) ktls_.tx_why = KtlsOffReason(true);
  if (!ktls_.rx) ktls_.rx_why = KtlsOffReason(false);
}

// Belt and braces: the server has no certificate and the client trusts none, so only the
// PSK can complete a handshake; still, insist that it did.
void TlsStream::CheckAuthenticated() {
  if (SSL_session_reused(ssl_.get()) != 1) {
    throw Error(ExitCode::AuthFailed, peer() + ": authentication failed: the peer did not prove it holds the shared secret");
  }
}

void TlsStream::ThrowHandshakeError(int ssl_error, int sys_errno) {
  SslErrors e = DrainSslErrors();
  const char* why = nullptr;
  if (unknown_identity_) {
    why = "the client offered a key identity this server does not know";
  } else if (e.Has(SSL_R_BINDER_DOES_NOT_VERIFY)) {
    why = "the client's proof of the key did not verify";
  } else if (!server_ && (e.Has(SSL_R_SSLV3_ALERT_ILLEGAL_PARAMETER) || e.Has(SSL_R_TLSV1_ALERT_DECRYPT_ERROR))) {
    // OpenSSL 3.0 answers a bad PSK binder with illegal_parameter (newer versions with
    // decrypt_error); between two ktsync builds nothing else in the handshake can be illegal.
    why = "the server could not verify our proof of the key";
  } else if (!server_ && e.Has(SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)) {
    why = "the server refused the handshake: unknown key identity?";
  } else if (!server_ && e.Has(SSL_R_CERTIFICATE_VERIFY_FAILED)) {
    why = "the server offered a certificate instead of the shared secret: not a ktsync peer, or an impostor";
  }
  if (why != nullptr) {
    throw Error(ExitCode::AuthFailed, peer() + ": authentication failed: the shared secret does not match (" + why + ")");
  }
  if (ssl_error == SSL_ERROR_SYSCALL && sys_errno != 0 && sys_errno != EAGAIN) {
    throw SysError(peer() + ": TLS handshake", sys_errno, ExitCode::SocketIo);
  }
  if (ssl_error == SSL_ERROR_SYSCALL || e.Has(SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
    throw Error(ExitCode::SocketIo, peer() + ": connection closed by peer during the TLS handshake");
  }
  throw Error(ExitCode::StartProtocol, peer() + ": TLS handshake failed: " + e.text);
}

std::string KtlsSendOffReason(bool allow_ktls) {
  if (KtlsDisabledByEnv()) return "disabled by KTSYNC_NO_KTLS";
  if (!allow_ktls) return "kernel TLS disabled by request";
  if (std::string r = KtlsUnavailableReason(); !r.empty()) return "kernel TLS unavailable: " + r;
  return "";
}

std::string TlsStream::KtlsOffReason(bool send) const {
  if (std::string r = KtlsSendOffReason(allow_ktls_); !r.empty()) return r;
  if (!send && (OPENSSL_version_major() < 3 || (OPENSSL_version_major() == 3 && OPENSSL_version_minor() < 2))) {
    return "OpenSSL " + std::to_string(OPENSSL_version_major()) + "." + std::to_string(OPENSSL_version_minor()) +
           " does not offload TLS 1.3 receive";
  }
  return std::string("OpenSSL did not enable kernel TLS ") + (send ? "send" : "receive") +
         " (the kernel may lack AES-GCM offload)";
}

void TlsStream::CheckUsable() const {
  if (failed_) throw *failed_;
}

void TlsStream::Fail(const Error& e) {
  failed_ = std::make_unique<Error>(e.code(), e.what());
  throw Error(*failed_);
}

void TlsStream::WriteAll(const void* data, size_t len) {
  struct iovec iov = {const_cast<void*>(data), len};
  WriteV(&iov, 1);
}

void TlsStream::WriteV(const struct iovec* iov, int iovcnt) {
  CheckUsable();
  if (write_shut_) throw Error(ExitCode::SocketIo, peer() + ": write after close_notify was sent");
  size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  try {
    if (ktls_.tx) {
      WriteFullyV(sock_.get(), true, iov, iovcnt, peer());  // the kernel encrypts
      records_ += (total + kTlsRecordBytes - 1) / kTlsRecordBytes;
    } else {
      WriteUserspace(iov, iovcnt);
    }
  } catch (const Error& e) {
    Fail(e);
  }
  bytes_sent_ += total;
}

// Every SSL_write but the last is a whole number of records: small pieces (frame headers)
// are copied into pending_ together with the start of the next piece, large pieces go
// straight to SSL_write. At most one record's worth is copied per piece.
void TlsStream::WriteUserspace(const struct iovec* iov, int iovcnt) {
  pending_.clear();
  for (int i = 0; i < iovcnt; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    size_t n = iov[i].iov_len;
    if (!pending_.empty()) {
      size_t take = std::min(n, kTlsRecordBytes - pending_.size());
      pending_.append(p, take);
      p += take;
      n -= take;
      if (pending_.size() == kTlsRecordBytes) {
        SslWrite(pending_.data(), pending_.size());
        pending_.clear();
      }
    }
    if (n >= kTlsRecordBytes) {
      size_t direct = n - n % kTlsRecordBytes;
      SslWrite(p, direct);
      p += direct;
      n -= direct;
    }
    pending_.append(p, n);
  }
  if (!pending_.empty()) SslWrite(pending_.data(), pending_.size());
}

void TlsStream::SslWrite(const char* p, size_t n) {
  while (n > 0) {
    ERR_clear_error();
    size_t written = 0;
    int r = SSL_write_ex(ssl_.get(), p, n, &written);
    int sys_errno = errno;
    if (r != 1) ThrowIoFailure(SSL_get_error(ssl_.get(), r), sys_errno, "sending");
    records_ += (written + kTlsRecordBytes - 1) / kTlsRecordBytes;
    p += written;
    n -= written;
  }
}

size_t TlsStream::ReadSome(void* buf, size_t len) {
  CheckUsable();
  if (len == 0) return 0;
  ERR_clear_error();
  size_t got = 0;
  int r = SSL_read_ex(ssl_.get(), buf, len, &got);
  int sys_errno = errno;
  if (post_handshake_msg_ >= 0) {
    ERR_clear_error();
    if (post_handshake_msg_ == SSL3_MT_KEY_UPDATE) {
      Fail(Error(ExitCode::StreamData,
                 peer() + ": peer requested a TLS key update, which kernel TLS cannot honour; connection closed"));
    }
    Fail(Error(ExitCode::StreamData, peer() + ": peer sent an unexpected post-handshake TLS message (handshake type " +
                                         std::to_string(post_handshake_msg_) + "); connection closed"));
  }
  if (r == 1) {
    bytes_received_ += got;
    return got;
  }
  int err = SSL_get_error(ssl_.get(), r);
  if (err == SSL_ERROR_ZERO_RETURN) return 0;  // close_notify: a clean end of stream
  ThrowIoFailure(err, sys_errno, "receiving");
}

void TlsStream::ThrowIoFailure(int ssl_error, int sys_errno, const char* op) {
  SslErrors e = DrainSslErrors();
  bool would_block = sys_errno == EAGAIN || sys_errno == EWOULDBLOCK;
  if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE || (ssl_error == SSL_ERROR_SYSCALL && would_block)) {
    Fail(Error(ExitCode::Timeout, peer() + ": timed out " + op + " (no progress within the I/O timeout)"));
  }
  if (ssl_error == SSL_ERROR_SYSCALL && sys_errno != 0) Fail(SysError(peer() + ": " + op, sys_errno, ExitCode::SocketIo));
  if (ssl_error == SSL_ERROR_SYSCALL || e.Has(SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
    Fail(Error(ExitCode::SocketIo,
               peer() + ": connection closed by peer without TLS close_notify (peer exited or the connection was cut)"));
  }
  if (e.Has(SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC)) {
    Fail(Error(ExitCode::StreamData,
               peer() + ": a TLS record failed authentication: data was corrupted or tampered with in transit"));
  }
  Fail(Error(ExitCode::StreamData, peer() + ": TLS error while " + op + ": " + e.text));
}

void TlsStream::ShutdownRead() { ::shutdown(sock_.get(), SHUT_RD); }

void TlsStream::ShutdownWrite() {
  CheckUsable();
  if (write_shut_) return;
  write_shut_ = true;
  ERR_clear_error();
  int r = SSL_shutdown(ssl_.get());  // 0: our close_notify is out; the peer's is still to come
  int sys_errno = errno;
  if (r < 0) ThrowIoFailure(SSL_get_error(ssl_.get(), r), sys_errno, "closing");
}

uint64_t TlsStream::SendFile(int file_fd, uint64_t offset, uint64_t len) {
  if (!ktls_.tx) return ByteStream::SendFile(file_fd, offset, len);  // pread + WriteAll
  CheckUsable();
  if (write_shut_) throw Error(ExitCode::SocketIo, peer() + ": write after close_notify was sent");
  uint64_t sent = 0;
  try {
    sent = SendFileFully(sock_.get(), file_fd, offset, len, peer());  // the kernel encrypts
  } catch (const Error& e) {
    Fail(e);
  }
  bytes_sent_ += sent;
  records_ += (sent + kTlsRecordBytes - 1) / kTlsRecordBytes;
  return sent;
}

}  // namespace ktsync
