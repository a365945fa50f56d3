// links: ktsync_manifest OpenSSL::SSL OpenSSL::Crypto
// The transfer sources under test are compiled into this test directly instead of linking
// ktsync_transfer, which also pulls in apply/store: isolation while those modules are in flux.
#include "transfer/byte_io.cpp"
#include "transfer/ktls_probe.cpp"
#include "transfer/stream.cpp"
#include "transfer/tls_channel.cpp"
#include "transfer/wire.cpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <thread>

namespace ktsync {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Listener {
  UniqueFd fd;
  int port = 0;
};

Listener Listen() {
  Listener l;
  l.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(l.fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(l.fd.get(), 4), 0);
  socklen_t len = sizeof a;
  getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  l.port = ntohs(a.sin_port);
  return l;
}

UniqueFd ConnectTo(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

UniqueFd AcceptOne(const Listener& l) { return UniqueFd(accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC)); }

TlsParams Params(unsigned char key_byte = 7, std::string identity = "ktsync-test") {
  TlsParams p;
  p.key.fill(key_byte);
  p.identity = std::move(identity);
  p.handshake_timeout_ms = 5000;
  return p;
}

// One side's handshake result: a stream or the error it threw.
struct Outcome {
  std::unique_ptr<TlsStream> stream;
  std::exception_ptr error;
};

ExitCode CodeOf(const Outcome& o, std::string* message = nullptr) {
  try {
    std::rethrow_exception(o.error);
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
}

struct Pair {
  Outcome client, server;
};

Pair Handshake(const TlsParams& client_params, const TlsParams& server_params) {
  Listener l = Listen();
  Pair p;
  std::thread server([&] {
    try {
      p.server.stream = TlsStream::Accept(AcceptOne(l), server_params);
    } catch (...) {
      p.server.error = std::current_exception();
    }
  });
  try {
    p.client.stream = TlsStream::Connect(ConnectTo(l.port), client_params);
  } catch (...) {
    p.client.error = std::current_exception();
  }
  server.join();
  return p;
}

Pair Connected(const TlsParams& params = Params()) {
  Pair p = Handshake(params, params);
  EXPECT_TRUE(p.client.stream && p.server.stream);
  if (!p.client.stream || !p.server.stream) {
    if (p.client.error) std::rethrow_exception(p.client.error);
    std::rethrow_exception(p.server.error);
  }
  return p;
}

template <typename Fn>
void ExpectError(ExitCode code, const std::string& needle, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// The byte at stream offset o is kPattern[o % kPeriod]; the period is odd so that chunk
// boundaries never line up with it.
constexpr size_t kPeriod = (1u << 20) + 4099;
const std::string& Pattern() {
  static const std::string p = [] {
    std::string s(kPeriod + (2u << 20), '\0');  // a tail so any read of <= 2 MiB never wraps
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < kPeriod; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      s[i] = static_cast<char>(x >> 24);
    }
    for (size_t i = kPeriod; i < s.size(); ++i) s[i] = s[i - kPeriod];
    return s;
  }();
  return p;
}
const char* PatternAt(uint64_t off) { return Pattern().data() + off % kPeriod; }

// Sends `total` pattern bytes as WriteV calls of a 5-byte piece plus a piece of varying
// size (the shape of a frame), so the coalescing path is exercised.
void SendPattern(ByteStream& s, uint64_t total) {
  uint64_t off = 0;
  size_t step = 0;
  while (off < total) {
    size_t body = std::min<uint64_t>(total - off, (step++ * 7919) % (1u << 20));
    size_t head = std::min<uint64_t>(5, total - off - body);
    iovec iov[2] = {{const_cast<char*>(PatternAt(off)), head}, {const_cast<char*>(PatternAt(off + head)), body}};
    s.WriteV(iov, 2);
    off += head + body;
  }
}

void ReceivePattern(ByteStream& s, uint64_t total) {
  std::vector<char> buf(1u << 20);
  uint64_t off = 0;
  size_t step = 0;
  while (off < total) {
    size_t want = std::min<uint64_t>(total - off, 1 + (step++ * 104729) % buf.size());
    size_t got = s.ReadSome(buf.data(), want);
    ASSERT_GT(got, 0u) << "early end of stream at " << off;
    ASSERT_EQ(std::memcmp(buf.data(), PatternAt(off), got), 0) << "data mismatch near offset " << off;
    off += got;
  }
}

TEST(TlsChannel, SameKeyTransfers64MiBEachWayVerified) {
  Pair p = Connected();
  TlsStream& c = *p.client.stream;
  TlsStream& s = *p.server.stream;
  SSL* ssl = c.ssl_for_test();
  EXPECT_EQ(SSL_version(ssl), TLS1_3_VERSION);
  EXPECT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), "TLS_AES_128_GCM_SHA256");
  EXPECT_NE(SSL_get_negotiated_group(ssl), 0) << "no (EC)DHE share: recorded traffic would not be forward secret";
  EXPECT_EQ(SSL_session_reused(ssl), 1);

  constexpr uint64_t kTotal = 64ull << 20;
  std::thread sender([&] { SendPattern(c, kTotal); });
  ReceivePattern(s, kTotal);
  sender.join();
  std::thread back([&] { SendPattern(s, kTotal); });
  ReceivePattern(c, kTotal);
  back.join();

  EXPECT_EQ(c.bytes_sent(), kTotal);
  EXPECT_EQ(s.bytes_received(), kTotal);
  EXPECT_EQ(s.bytes_sent(), kTotal);
  EXPECT_EQ(c.bytes_received(), kTotal);
  // Coalescing keeps records (nearly) full: at most one partial record per write call.
  EXPECT_GE(c.records_estimate(), kTotal / 16384);
  EXPECT_LT(c.records_estimate(), kTotal / 16384 * 11 / 10);

  c.ShutdownWrite();
  char b;
  EXPECT_EQ(s.ReadSome(&b, 1), 0u);
  s.ShutdownWrite();
  EXPECT_EQ(c.ReadSome(&b, 1), 0u);
}

TEST(TlsChannel, WrongKeyFailsAuthenticationOnBothSidesQuickly) {
  auto t0 = Clock::now();
  Pair p = Handshake(Params(1), Params(2));
  EXPECT_LT(SecondsSince(t0), 3.0);
  ASSERT_TRUE(p.client.error && p.server.error);
  std::string cm, sm;
  EXPECT_EQ(CodeOf(p.client, &cm), ExitCode::AuthFailed) << cm;
  EXPECT_EQ(CodeOf(p.server, &sm), ExitCode::AuthFailed) << sm;
  EXPECT_NE(cm.find("127.0.0.1:"), std::string::npos) << cm;
  EXPECT_NE(cm.find("authentication failed: the shared secret does not match"), std::string::npos) << cm;
  EXPECT_NE(sm.find("authentication failed: the shared secret does not match"), std::string::npos) << sm;
  std::printf("client: %s\nserver: %s\n", cm.c_str(), sm.c_str());
}

TEST(TlsChannel, WrongIdentityFailsAuthenticationOnBothSides) {
  Pair p = Handshake(Params(1, "alice"), Params(1, "bob"));
  ASSERT_TRUE(p.client.error && p.server.error);
  std::string cm, sm;
  EXPECT_EQ(CodeOf(p.client, &cm), ExitCode::AuthFailed) << cm;
  EXPECT_EQ(CodeOf(p.server, &sm), ExitCode::AuthFailed) << sm;
  EXPECT_NE(sm.find("key identity"), std::string::npos) << sm;
  std::printf("client: %s\nserver: %s\n", cm.c_str(), sm.c_str());
}

TEST(TlsChannel, SilentClientMakesServerHandshakeTimeOut) {
  Listener l = Listen();
  UniqueFd silent = ConnectTo(l.port);
  TlsParams params = Params();
  params.handshake_timeout_ms = 300;
  params.peer_name = "silent-client";
  auto t0 = Clock::now();
  ExpectError(ExitCode::Timeout, "silent-client: TLS handshake timed out after 300 ms",
              [&] { TlsStream::Accept(AcceptOne(l), params); });
  double took = SecondsSince(t0);
  EXPECT_GE(took, 0.25);
  EXPECT_LT(took, 2.0);
}

TEST(TlsChannel, SilentServerMakesClientHandshakeTimeOut) {
  Listener l = Listen();  // accepts (backlog) but never speaks
  TlsParams params = Params();
  params.handshake_timeout_ms = 300;
  ExpectError(ExitCode::Timeout, "TLS handshake timed out", [&] { TlsStream::Connect(ConnectTo(l.port), params); });
}

TEST(TlsChannel, NonTlsServerIsAHandshakeFailureNotAHang) {
  Listener l = Listen();
  std::thread server([&] {
    UniqueFd fd = AcceptOne(l);
    const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    ASSERT_EQ(write(fd.get(), banner, sizeof banner - 1), static_cast<ssize_t>(sizeof banner - 1));
    char buf[4096];
    while (read(fd.get(), buf, sizeof buf) > 0) {
    }
  });
  ExpectError(ExitCode::StartProtocol, "TLS handshake failed", [&] { TlsStream::Connect(ConnectTo(l.port), Params()); });
  server.join();
}

// A real TLS server that authenticates with a certificate instead of the PSK must not be
// accepted: the client trusts no certificate at all.
TEST(TlsChannel, ClientRefusesAServerWithACertificateInsteadOfTheKey) {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  ASSERT_NE(pkey, nullptr);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("impostor"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, pkey);
  ASSERT_GT(X509_sign(cert, pkey, EVP_sha256()), 0);

  Listener l = Listen();
  std::thread server([&] {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx, cert);
    SSL_CTX_use_PrivateKey(ctx, pkey);
    UniqueFd fd = AcceptOne(l);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd.get());
    SSL_accept(ssl);  // fails once the client rejects the certificate
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  });
  ExpectError(ExitCode::AuthFailed, "authentication failed", [&] { TlsStream::Connect(ConnectTo(l.port), Params()); });
  server.join();
  X509_free(cert);
  EVP_PKEY_free(pkey);
}

TEST(TlsChannel, KtlsDisabledByRequestSaysSo) {
  TlsParams params = Params();
  params.allow_ktls = false;
  Pair p = Connected(params);
  KtlsStatus k = p.client.stream->ktls();
  EXPECT_FALSE(k.tx);
  EXPECT_FALSE(k.rx);
  EXPECT_EQ(k.tx_why, "kernel TLS disabled by request");
  EXPECT_EQ(k.rx_why, "kernel TLS disabled by request");
}

TEST(TlsChannel, KtlsDisabledByEnvironmentSaysSo) {
  setenv("KTSYNC_NO_KTLS", "1", 1);
  Pair p = Connected();
  unsetenv("KTSYNC_NO_KTLS");
  KtlsStatus k = p.server.stream->ktls();
  EXPECT_FALSE(k.tx);
  EXPECT_EQ(k.tx_why, "disabled by KTSYNC_NO_KTLS");
}

TEST(TlsChannel, ReportsWhetherAndWhyTheKernelEncrypts) {
  Pair p = Connected();
  KtlsStatus k = p.client.stream->ktls();
  std::string reason = KtlsUnavailableReason();
  std::printf("kernel TLS probe: %s\nclient tx=%d (%s) rx=%d (%s)\n", reason.empty() ? "available" : reason.c_str(),
              k.tx, k.tx_why.c_str(), k.rx, k.rx_why.c_str());
  if (reason.empty()) {
    // A kTLS kernel (the QEMU job sets KTLSVM=1): OpenSSL 3.0 offloads TLS 1.3 send only.
    EXPECT_TRUE(k.tx) << k.tx_why;
    EXPECT_TRUE(p.server.stream->ktls().tx);
  } else {
    EXPECT_EQ(std::getenv("KTLSVM"), nullptr) << "kTLS must work inside the kTLS VM: " << reason;
    EXPECT_FALSE(k.tx);
    EXPECT_FALSE(k.rx);
    EXPECT_EQ(k.tx_why, "kernel TLS unavailable: " + reason);
    EXPECT_NE(reason.find("setsockopt TCP_ULP \"tls\""), std::string::npos);
  }
  if (!k.rx && !reason.empty()) {
    EXPECT_EQ(k.rx_why, k.tx_why);
  }
  if (!k.rx && reason.empty() && OPENSSL_version_major() == 3 && OPENSSL_version_minor() == 0) {
    EXPECT_EQ(k.rx_why, "OpenSSL 3.0 does not offload TLS 1.3 receive");
  }
}

TEST(TlsChannel, PeerKeyUpdateFailsTheReceiverCleanly) {
  for (int requested : {SSL_KEY_UPDATE_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED}) {
    Pair p = Connected();
    TlsStream& c = *p.client.stream;
    TlsStream& s = *p.server.stream;
    c.WriteAll("before", 6);
    char buf[64];
    s.ReadExact(buf, 6);
    ASSERT_EQ(SSL_key_update(c.ssl_for_test(), requested), 1);
    // SSL_write, not WriteAll: with kTLS TX, WriteAll is a plain send() and OpenSSL would
    // never get to emit the KeyUpdate message, which goes out before this data.
    size_t written = 0;
    ASSERT_EQ(SSL_write_ex(c.ssl_for_test(), "after the key update", 20, &written), 1);
    std::string msg = "peer requested a TLS key update, which kernel TLS cannot honour; connection closed";
    ExpectError(ExitCode::StreamData, msg, [&] { s.ReadSome(buf, sizeof buf); });
    // The stream stays dead: no data after the update is ever returned, nothing is written.
    ExpectError(ExitCode::StreamData, msg, [&] { s.ReadSome(buf, sizeof buf); });
    ExpectError(ExitCode::StreamData, msg, [&] { s.WriteAll("x", 1); });
  }
}

TEST(TlsChannel, ShutdownWriteIsAHalfClose) {
  Pair p = Connected();
  TlsStream& c = *p.client.stream;
  TlsStream& s = *p.server.stream;
  c.WriteAll("request", 7);
  c.ShutdownWrite();
  ExpectError(ExitCode::SocketIo, "write after close_notify", [&] { c.WriteAll("x", 1); });
  char buf[16];
  s.ReadExact(buf, 7);
  EXPECT_EQ(s.ReadSome(buf, sizeof buf), 0u);
  s.WriteAll("reply", 5);  // the client still reads after its close_notify
  c.ReadExact(buf, 5);
  EXPECT_EQ(std::string(buf, 5), "reply");
  s.ShutdownWrite();
  EXPECT_EQ(c.ReadSome(buf, sizeof buf), 0u);
}

TEST(TlsChannel, PeerVanishingWithoutCloseNotifyIsAnError) {
  Pair p = Connected();
  p.client.stream->WriteAll("partial", 7);
  p.client.stream.reset();  // closes the socket without close_notify
  char buf[16];
  p.server.stream->ReadExact(buf, 7);
  ExpectError(ExitCode::SocketIo, "without TLS close_notify", [&] { p.server.stream->ReadSome(buf, sizeof buf); });
}

TEST(TlsChannel, SocketTimeoutBecomesATimeoutError) {
  Pair p = Connected();
  timeval tv{0, 200 * 1000};
  ASSERT_EQ(setsockopt(p.server.stream->fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char buf[8];
  ExpectError(ExitCode::Timeout, "timed out receiving", [&] { p.server.stream->ReadSome(buf, sizeof buf); });
}

TEST(TlsChannel, EmptyIdentityStillAuthenticates) {
  Pair p = Connected(Params(9, ""));
  p.client.stream->WriteAll("ok", 2);
  char buf[2];
  p.server.stream->ReadExact(buf, 2);
  EXPECT_EQ(std::string(buf, 2), "ok");
}

TEST(TlsChannel, EndOfStreamMidFrameNamesThePeer) {
  TlsParams params = Params();
  params.peer_name = "backup.example:7390";
  Pair p = Connected(params);
  unsigned char h[kFrameHeaderBytes];
  EncodeFrameHeader(FrameType::FileData, 1000, h);
  p.server.stream->WriteAll(h, sizeof h);
  p.server.stream->ShutdownWrite();
  FrameReader r(*p.client.stream);
  ExpectError(ExitCode::SocketIo, "backup.example:7390: connection closed by peer in the middle of a message",
              [&] { r.Next(); });
}

TEST(TlsChannel, FramesAndSendFileTravelIntact) {
  char tmpl[] = "/tmp/tls_channel_test.XXXXXX";
  UniqueFd file(mkstemp(tmpl));
  ASSERT_TRUE(file);
  unlink(tmpl);
  constexpr size_t kFile = 2u << 20;
  ASSERT_EQ(write(file.get(), PatternAt(0), kFile), static_cast<ssize_t>(kFile));
  Pair p = Connected();
  uint64_t sent = 0;
  std::thread sender([&] {
    FrameWriter w(*p.server.stream);
    std::string begin;
    EncodeFileBegin({1, kFile - 100}, begin);
    w.Write(FrameType::FileBegin, begin);
    sent = p.server.stream->SendFile(file.get(), 100, kFile - 100);
    w.Write(FrameType::Done, "");
  });
  FrameReader r(*p.client.stream);
  FileBegin fb = DecodeFileBegin(r.Expect(FrameType::FileBegin).payload);
  EXPECT_EQ(fb.size, kFile - 100);
  std::string got(fb.size, '\0');
  p.client.stream->ReadExact(got.data(), got.size());
  EXPECT_EQ(std::memcmp(got.data(), PatternAt(100), got.size()), 0);
  r.Expect(FrameType::Done);
  sender.join();
  EXPECT_EQ(sent, kFile - 100);
}

// Not run by default (it moves 3 GiB): the userspace-TLS ceiling on this machine.
// Run: tls_channel_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
TEST(TlsChannel, DISABLED_Throughput1GiB) {
  constexpr uint64_t kTotal = 1ull << 30;
  constexpr size_t kChunk = 256 * 1024;
  auto run = [&](const char* label, auto send_chunk) {
    Pair p = Connected();
    auto t0 = Clock::now();
    std::thread sender([&] {
      for (uint64_t off = 0; off < kTotal; off += kChunk) send_chunk(*p.client.stream, PatternAt(off));
    });
    std::vector<char> buf(kChunk);
    uint64_t got = 0;
    while (got < kTotal) got += p.server.stream->ReadSome(buf.data(), buf.size());
    sender.join();
    double secs = SecondsSince(t0);
    std::printf("%-44s 1 GiB in %.2f s = %.0f MiB/s (ktls tx=%d)\n", label, secs, 1024 / secs, p.client.stream->ktls().tx);
  };
  run("raw SSL_write_ex, 256 KiB writes", [](TlsStream& s, const char* data) {
    size_t w = 0;
    ASSERT_EQ(SSL_write_ex(s.ssl_for_test(), data, kChunk, &w), 1);
  });
  run("TlsStream::WriteAll, 256 KiB writes", [](TlsStream& s, const char* data) { s.WriteAll(data, kChunk); });
  run("FrameWriter FileData frames of 256 KiB", [](TlsStream& s, const char* data) {
    FrameWriter(s).Write(FrameType::FileData, data, kChunk - kFrameHeaderBytes);  // header + payload = 256 KiB
  });
}

}  // namespace
}  // namespace ktsync
