// TlsStream: TLS 1.3 over a connected TCP socket, with the kernel doing the encryption
// (kTLS) where it can.
//
// Security choices, and why:
// * TLS 1.3 only, TLS_AES_128_GCM_SHA256 only: the one suite every kTLS kernel offloads.
// * External PSK (both ends hold the same 32-byte secret) WITH (EC)DHE (psk_dhe_ke): a key
//   that leaks later does not decrypt recorded traffic. psk_ke (no DHE) is never allowed.
// * No session tickets, no resumption, no renegotiation (does not exist in 1.3).
// * No KeyUpdate: kTLS on Linux 6.1 + OpenSSL 3.0 cannot rekey the kernel's TX key, so a
//   rekeyed connection would silently corrupt. This side never sends one; a peer's KeyUpdate
//   (or any post-handshake handshake message) fails the stream with ExitCode::StreamData.
//
// Data path: with kTLS TX, writes are plain send()/sendmsg()/sendfile() on the socket (the
// kernel builds the records). Otherwise SSL_write, with small pieces coalesced so records
// stay full. Reads use SSL_read (OpenSSL 3.0 never offloads TLS 1.3 receive; where it does,
// OpenSSL still parses the record types).
//
// Threads: one thread at a time per stream (an OpenSSL SSL object is not safe for a read and
// a write running concurrently). Use a connection per direction when both must flow at once
// (the daemon's control channel does). ShutdownRead alone may come from another thread.
// After any error the stream is dead: every later call throws the same error.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "transfer/stream.h"
#include "util/error.h"
#include "util/unique_fd.h"

struct ssl_st;
struct ssl_ctx_st;

namespace ktsync {

struct TlsParams {
  using Key = std::array<unsigned char, 32>;
  Key key{};             // the shared secret
  std::string identity;  // PSK identity; both ends must agree ("" means "ktsync")
  // Server: the key for the identity the client offers (null: unknown), instead of `key`
  // and `identity` (a daemon's modules each have their own secret).
  std::function<std::optional<Key>(std::string_view identity)> find_key;
  bool allow_ktls = true;               // false (or env KTSYNC_NO_KTLS=1): userspace TLS only
  int handshake_timeout_ms = 10000;
  std::string peer_name;  // how errors name the peer; default: the socket's peer address
};

// Which directions the kernel encrypts, and for each one that it does not, why.
struct KtlsStatus {
  bool tx = false, rx = false;
  std::string tx_why, rx_why;
};

// Why a sender with kernel TLS allowed (or not) will encrypt in userspace, known before
// any connection: "" when it will ask the kernel (OpenSSL may still decline).
std::string KtlsSendOffReason(bool allow_ktls);

class TlsStream : public ByteStream {
 public:
  // Handshake as client / server, then return a ready stream. Wrong secret or identity:
  // Error(ExitCode::AuthFailed); no handshake progress within handshake_timeout_ms:
  // Error(ExitCode::Timeout); the socket is blocking again on return. Later I/O blocks
  // forever unless the caller sets SO_RCVTIMEO/SO_SNDTIMEO, whose expiry then throws
  // Error(ExitCode::Timeout).
  static std::unique_ptr<TlsStream> Connect(UniqueFd sock, const TlsParams& params);
  static std::unique_ptr<TlsStream> Accept(UniqueFd sock, const TlsParams& params);
  ~TlsStream() override;

  void WriteAll(const void* data, size_t len) override;
  void WriteV(const struct iovec* iov, int iovcnt) override;
  size_t ReadSome(void* buf, size_t len) override;  // 0 only after the peer's close_notify
  void ShutdownWrite() override;                    // sends close_notify; reads may go on
  void ShutdownRead() override;                     // shutdown(SHUT_RD) of the socket
  uint64_t SendFile(int file_fd, uint64_t offset, uint64_t len) override;

  KtlsStatus ktls() const { return ktls_; }
  uint64_t bytes_sent() const { return bytes_sent_; }          // plaintext bytes
  uint64_t bytes_received() const { return bytes_received_; }  // plaintext bytes
  uint64_t records_estimate() const { return records_; }       // records sent, assuming full 16 KiB records
  int fd() const { return sock_.get(); }
  const std::string& identity() const { return identity_; }  // the one the handshake used

  ssl_st* ssl_for_test() const { return ssl_.get(); }

 private:
  struct SslFree {
    void operator()(ssl_st* p) const;
  };
  struct CtxFree {
    void operator()(ssl_ctx_st* p) const;
  };
  friend struct TlsCallbacks;

  TlsStream(UniqueFd sock, const TlsParams& params, bool server, std::string peer);
  static std::unique_ptr<TlsStream> Start(UniqueFd sock, const TlsParams& params, bool server);
  void Handshake(int timeout_ms);
  [[noreturn]] void ThrowHandshakeError(int ssl_error, int sys_errno);
  void CheckAuthenticated();
  std::string KtlsOffReason(bool send) const;
  void WriteUserspace(const struct iovec* iov, int iovcnt);
  void SslWrite(const char* p, size_t n);
  void CheckUsable() const;
  [[noreturn]] void ThrowIoFailure(int ssl_error, int sys_errno, const char* op);
  [[noreturn]] void Fail(const Error& e);

  UniqueFd sock_;  // declared first: outlives the SSL objects that use it
  std::unique_ptr<ssl_ctx_st, CtxFree> ctx_;
  std::unique_ptr<ssl_st, SslFree> ssl_;
  std::array<unsigned char, 32> key_;  // wiped by the destructor
  std::string identity_;
  std::function<std::optional<TlsParams::Key>(std::string_view)> find_key_;
  bool server_;
  bool allow_ktls_;
  KtlsStatus ktls_;

  bool handshake_done_ = false;
  int post_handshake_msg_ = -1;  // handshake type of the first one seen after the handshake
  bool unknown_identity_ = false;
  bool write_shut_ = false;
  std::unique_ptr<Error> failed_;

  std::string pending_;  // coalesces small writes into full records (userspace TX)
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t records_ = 0;
};

}  // namespace ktsync
