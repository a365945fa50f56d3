#include "transfer/control.h"

#include <openssl/crypto.h>
#include <sys/socket.h>

#include "transfer/byte_io.h"
#include "transfer/mux.h"
#include "transfer/net.h"
#include "util/error.h"

namespace ktsync {
namespace {

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

void SendError(Control& c, const Error& e) noexcept {
  try {
    std::string out;
    EncodeError(ErrorMessage{e.code(), e.what()}, out);
    c.writer.Write(FrameType::Error, out);
  } catch (...) {
  }
}

void SendFileList(Control& c, const FileList& list) {
  std::span<const ListedPath> rest(list.paths());
  std::string out;
  while (!rest.empty()) {
    out.clear();
    rest = rest.subspan(EncodeFileListBatch(rest, out));
    c.writer.Write(FrameType::FileList, out);
  }
  out.clear();
  EncodeFileListEnd(list.size(), out);
  c.writer.Write(FrameType::FileListEnd, out);
}

std::shared_ptr<const FileList> ReceiveFileList(Control& c, bool recursive, FileListDecoder decoder) {
  std::vector<ListedPath> paths;
  for (;;) {
    std::optional<Frame> f = c.reader.Next();
    if (!f) throw Error(ExitCode::SocketIo, "the client left while sending its --files-from list");
    if (f->type == FrameType::FileListEnd) {
      decoder.End(f->payload);
      return std::make_shared<const FileList>(std::move(paths), recursive);
    }
    if (f->type != FrameType::FileList)
      ThrowProtocolError(std::string("a ") + FrameTypeName(f->type) + " frame inside the --files-from list");
    try {
      decoder.Decode(f->payload, paths);
    } catch (const Error& e) {
      if (e.code() != ExitCode::Usage) throw;  // beyond the caps; anything else is the peer's fault
      std::vector<ListedPath>().swap(paths);
      SkipFileList(c);
      throw;
    }
  }
}

void SkipFileList(Control& c) noexcept {
  try {
    for (;;) {
      std::optional<Frame> f = c.reader.Next();
      if (!f || f->type != FrameType::FileList) return;
    }
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
                                                 int timeout_ms, uint32_t* stream_no, std::string* why) {
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
    *stream_no = h.stream;
    if (auto* tls = dynamic_cast<TlsStream*>(s.get())) SetIoTimeout(tls->fd(), 0);
    else SetIoTimeout(static_cast<FdStream*>(s.get())->read_fd(), 0);
    return s;
  } catch (const Error& e) {
    *why = e.what();
    return nullptr;
  }
}

void DataQueue::ExpectStreams(uint32_t streams) {
  std::lock_guard lock(mu_);
  streams_ = streams;
}

void DataQueue::Push(uint32_t stream_no, std::unique_ptr<ByteStream> s) {
  std::lock_guard lock(mu_);
  if (stream_no != kReverseControlStream && stream_no >= streams_) {
    // Only the session's own client knows its token: one that miscounts is broken or hostile.
    closed_ = "protocol error: a data connection for stream " + std::to_string(stream_no) + " of a session with " +
              std::to_string(streams_);
    closed_code_ = ExitCode::StreamData;
  } else if (stream_no == kReverseControlStream) {
    if (reverse_taken_ || !reverse_.empty()) return;  // one per session: a second is dropped
    reverse_.push_back(std::move(s));
  } else {
    q_.push_back(std::move(s));
  }
  cv_.notify_all();
}

std::unique_ptr<ByteStream> DataQueue::Take(std::deque<std::unique_ptr<ByteStream>>& q,
                                            std::chrono::milliseconds timeout, const char* what) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !q.empty() || !closed_.empty(); }))
    throw Error(ExitCode::Timeout, std::string("no ") + what + " arrived within " +
                                       std::to_string(timeout.count() / 1000) +
                                       " s (is a firewall blocking the data port?)");
  if (!closed_.empty() && (q.empty() || closed_code_ == ExitCode::StreamData)) throw Error(closed_code_, closed_);
  auto s = std::move(q.front());
  q.pop_front();
  return s;
}

std::unique_ptr<ByteStream> DataQueue::Pop(std::chrono::milliseconds timeout) {
  return Take(q_, timeout, "data connection");
}

std::unique_ptr<ByteStream> DataQueue::PopReverseControl(std::chrono::milliseconds timeout) {
  auto s = Take(reverse_, timeout, "second control connection");
  std::lock_guard lock(mu_);
  reverse_taken_ = true;
  return s;
}

void DataQueue::Close(std::string why) {
  std::lock_guard lock(mu_);
  if (closed_code_ == ExitCode::StreamData) return;  // the protocol error says more
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
    uint32_t no = 0;
    if (auto s = AcceptDataConnection(std::move(sock), sec_, token_, 10000, &no, &why)) queue_.Push(no, std::move(s));
  }
}

bool TokensEqual(const SessionToken& a, const SessionToken& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ktsync

namespace ktsync {

std::string DescribeEncryption(const ByteStream& s, bool send) {
  if (IsMuxChannel(s)) return "ssh (data inside the ssh connection, encrypted by ssh)";
  const auto* tls = dynamic_cast<const TlsStream*>(&s);
  if (!tls) return "none (--no-encryption: data travelled in plaintext)";
  KtlsStatus k = tls->ktls();
  bool on = send ? k.tx : k.rx;
  const std::string& why = send ? k.tx_why : k.rx_why;
  if (on) return "kernel TLS (kTLS, TLS 1.3 AES-128-GCM)";
  return "userspace TLS (OpenSSL, TLS 1.3 AES-128-GCM)" + (why.empty() ? "" : ": " + why);
}

}  // namespace ktsync
