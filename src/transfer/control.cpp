#include "transfer/control.h"

#include <openssl/crypto.h>
#include <sys/socket.h>

#include "transfer/byte_io.h"
#include "transfer/net.h"
#include "util/error.h"

namespace ktsync {
namespace {

// A hostile peer must not be able to make us hold an unbounded manifest.
constexpr uint64_t kMaxManifestEntries = 50'000'000;

std::unique_ptr<ByteStream> Secure(UniqueFd sock, const DataSecurity& sec, bool server, const std::string& peer,
                                   int timeout_ms) {
  if (!sec.encrypt) return std::make_unique<FdStream>(std::move(sock), peer);
  TlsParams p;
  p.key = sec.key;
  p.identity = sec.identity;
  p.allow_ktls = sec.allow_ktls;
  p.handshake_timeout_ms = timeout_ms;
  p.peer_name = peer;
  if (server) return TlsStream::Accept(std::move(sock), p);
  return TlsStream::Connect(std::move(sock), p);
}

}  // namespace

Agreement ExchangeHello(Control& c, const std::optional<Hello>& peer_hello) {
  std::string out;
  EncodeHello(Hello{}, out);
  c.writer.Write(FrameType::Hello, out);
  if (peer_hello) return Negotiate(Hello{}, *peer_hello);
  return Negotiate(Hello{}, DecodeHello(c.reader.Expect(FrameType::Hello).payload));
}

namespace {

void WriteEntryBatches(Control& c, std::span<const Entry> rest, std::string& out) {
  while (!rest.empty()) {
    out.clear();
    size_t n = EncodeEntryBatch(rest, out);
    c.writer.Write(FrameType::ManifestBatch, out);
    rest = rest.subspan(n);
  }
}

void WriteManifestEnd(Control& c, size_t count, std::string& out) {
  out.clear();
  ByteWriter(out).U64(count);
  c.writer.Write(FrameType::ManifestEnd, out);
}

}  // namespace

void SendManifest(Control& c, const Manifest& m) {
  std::string out;
  WriteEntryBatches(c, m, out);
  WriteManifestEnd(c, m.size(), out);
}

void SendManifest(Control& c, size_t count, const std::function<Manifest(size_t begin, size_t end)>& slice) {
  constexpr size_t kSlice = 8192;
  std::string out;
  for (size_t begin = 0; begin < count; begin += kSlice) WriteEntryBatches(c, slice(begin, begin + kSlice), out);
  WriteManifestEnd(c, count, out);
}

Manifest ReceiveManifest(Control& c) {
  Manifest m;
  for (;;) {
    std::optional<Frame> f = c.reader.Next();
    if (!f) throw Error(ExitCode::SocketIo, c.stream.peer() + ": connection closed while receiving the file list");
    if (f->type == FrameType::ManifestBatch) {
      DecodeEntryBatch(f->payload, m);
      if (m.size() > kMaxManifestEntries) ThrowProtocolError("file list larger than 50 million entries");
      continue;
    }
    if (f->type == FrameType::ManifestEnd) {
      ByteReader r(f->payload, "ManifestEnd");
      if (r.U64("count") != m.size()) r.Fail("entry count does not match the entries sent");
      r.ExpectEnd();
      if (m.empty()) ThrowProtocolError("empty file list (the root entry is missing)");
      return m;
    }
    if (f->type == FrameType::Error) {
      ErrorMessage e = DecodeError(f->payload);
      throw Error(e.code, c.stream.peer() + ": " + e.message);
    }
    ThrowProtocolError(std::string("unexpected ") + FrameTypeName(f->type) + " while receiving the file list");
  }
}

void SendError(Control& c, const Error& e) noexcept {
  try {
    std::string out;
    EncodeError(ErrorMessage{e.code(), e.what()}, out);
    c.writer.Write(FrameType::Error, out);
  } catch (...) {
  }
}

std::unique_ptr<ByteStream> OpenDataConnection(const std::string& host, uint16_t port, const DataSecurity& sec,
                                               const SessionToken& token, uint32_t stream_no, int timeout_ms) {
  UniqueFd sock = ConnectTcp(host, port, timeout_ms);
  TuneDataSocket(sock.get());
  if (sec.io_timeout_sec > 0) SetIoTimeout(sock.get(), sec.io_timeout_sec);
  std::unique_ptr<ByteStream> s = Secure(std::move(sock), sec, false, FormatHostPort(host, port), timeout_ms);
  std::string out;
  EncodeDataHello(DataHello{token, stream_no}, out);
  FrameWriter(*s).Write(FrameType::DataHello, out);
  return s;
}

std::unique_ptr<ByteStream> AcceptDataConnection(UniqueFd sock, const DataSecurity& sec, const SessionToken& token,
                                                 int timeout_ms, std::string* why) {
  try {
    TuneDataSocket(sock.get());
    SetIoTimeout(sock.get(), timeout_ms / 1000 + 1);  // a silent peer cannot hold the slot
    std::unique_ptr<ByteStream> s = Secure(std::move(sock), sec, true, "data connection", timeout_ms);
    FrameReader r(*s);
    DataHello h = DecodeDataHello(r.Expect(FrameType::DataHello).payload);
    if (!TokensEqual(h.token, token)) {
      *why = "data connection presented the wrong session token";
      return nullptr;
    }
    if (auto* tls = dynamic_cast<TlsStream*>(s.get())) SetIoTimeout(tls->fd(), 0);
    else SetIoTimeout(static_cast<FdStream*>(s.get())->read_fd(), 0);
    return s;
  } catch (const Error& e) {
    *why = e.what();
    return nullptr;
  }
}

void DataQueue::Push(std::unique_ptr<ByteStream> s) {
  std::lock_guard lock(mu_);
  q_.push_back(std::move(s));
  cv_.notify_one();
}

std::unique_ptr<ByteStream> DataQueue::Pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty() || !closed_.empty(); }))
    throw Error(ExitCode::Timeout, "no data connection arrived within " + std::to_string(timeout.count() / 1000) +
                                       " s (is a firewall blocking the data port?)");
  if (q_.empty()) throw Error(ExitCode::SocketIo, closed_);
  auto s = std::move(q_.front());
  q_.pop_front();
  return s;
}

void DataQueue::Close(std::string why) {
  std::lock_guard lock(mu_);
  closed_ = std::move(why);
  cv_.notify_all();
}

DataListener::DataListener(const std::string& bind_host, uint16_t port, DataSecurity sec, SessionToken token)
    : listener_(Listen(bind_host, port)), sec_(std::move(sec)), token_(token) {
  port_ = LocalPort(listener_.get());
  thread_ = std::thread([this] { AcceptLoop(); });
}

DataListener::~DataListener() {
  stop_.store(true);
  // Wakes the accept loop's poll at once (a listening socket reports POLLHUP after
  // shutdown), so ending a session never waits out the poll interval.
  ::shutdown(listener_.get(), SHUT_RDWR);
  thread_.join();
  queue_.Close("data listener closed");
}

void DataListener::AcceptLoop() {
  while (!stop_.load()) {
    UniqueFd sock;
    try {
      sock = AcceptWithTimeout(listener_.get(), 1000);
    } catch (const Error& e) {
      if (stop_.load()) return;  // the destructor shut the socket down: accept fails, as meant
      queue_.Close(std::string("data listener failed: ") + e.what());
      return;
    }
    if (!sock) continue;
    std::string why;
    if (auto s = AcceptDataConnection(std::move(sock), sec_, token_, 10000, &why)) queue_.Push(std::move(s));
  }
}

bool TokensEqual(const SessionToken& a, const SessionToken& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ktsync

namespace ktsync {

std::string DescribeEncryption(const ByteStream& s, bool send) {
  const auto* tls = dynamic_cast<const TlsStream*>(&s);
  if (!tls) return "none (--no-encryption: data travelled in plaintext)";
  KtlsStatus k = tls->ktls();
  bool on = send ? k.tx : k.rx;
  const std::string& why = send ? k.tx_why : k.rx_why;
  if (on) return "kernel TLS (kTLS, TLS 1.3 AES-128-GCM)";
  return "userspace TLS (OpenSSL, TLS 1.3 AES-128-GCM)" + (why.empty() ? "" : ": " + why);
}

}  // namespace ktsync
