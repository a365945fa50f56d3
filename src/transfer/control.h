// Control-channel building blocks shared by the client and server ends of a session: the
// opening handshake, errors, and opening/accepting data connections (and a daemon
// session's second control connection, kReverseControlStream).
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "manifest/entry.h"
#include "manifest/file_list.h"
#include "transfer/stream.h"
#include "transfer/tls_channel.h"
#include "transfer/wire.h"
#include "util/problems.h"

namespace ktsync {

inline constexpr const char* kDataIdentity = "ktsync-data";
inline constexpr const char* kDaemonIdentity = "ktsync";

struct Control {
  explicit Control(ByteStream& s) : stream(s), reader(s), writer(s) {}
  ByteStream& stream;
  FrameReader reader;
  FrameWriter writer;
};

// Both sides send Hello first, then read the peer's (unless the daemon already read it to
// tell a control connection from a data one); returns the agreed version.
Agreement ExchangeHello(Control& c, const std::optional<Hello>& peer_hello = std::nullopt);

void SendError(Control& c, const Error& e) noexcept;  // best effort: the peer may be gone

// A pull's --files-from list (wire.h): the client sends it after its Request, the server
// reads it, and nothing else, until FileListEnd.
// `decoder` holds the caps. A list beyond them is read to its end and dropped before the
// error is thrown, as SkipFileList does: the client, still writing it, then reads why.
void SendFileList(Control& c, const FileList& list);
std::shared_ptr<const FileList> ReceiveFileList(Control& c, bool recursive, FileListDecoder decoder = FileListDecoder());
// Reads the list's frames to FileListEnd (or any other frame, or the end), keeping nothing:
// a request refused before its list was read.
void SkipFileList(Control& c) noexcept;

// How a data connection is secured.
struct DataSecurity {
  bool encrypt = true;
  bool allow_ktls = true;
  std::array<unsigned char, 32> key{};
  std::string identity = kDataIdentity;
  int io_timeout_sec = 0;  // --timeout: fail when a read or write stalls this long (0 = never)
};

// Client side: connect, secure, introduce itself with DataHello.
std::unique_ptr<ByteStream> OpenDataConnection(const std::string& host, uint16_t port, const DataSecurity& sec,
                                               const SessionToken& token, uint32_t stream_no, int timeout_ms);

// Server side: data connections that passed TLS and presented this session's token, in
// arrival order, and the reverse control connection apart. Fed by a DataListener (ssh
// mode) or by the daemon's accept loop.
class DataQueue {
 public:
  // The session's stream count (Request::streams), before the client learns the token: a
  // data connection for a stream beyond it is dropped, and the session's next Pop fails
  // with a protocol error.
  void ExpectStreams(uint32_t streams);
  // `stream_no` from the DataHello: kReverseControlStream, or a data stream's number.
  void Push(uint32_t stream_no, std::unique_ptr<ByteStream> s);
  // The next data connection. Throws Error(Timeout) when none arrives in time.
  std::unique_ptr<ByteStream> Pop(std::chrono::milliseconds timeout);
  // The reverse control connection (only one is ever taken; later ones are dropped).
  std::unique_ptr<ByteStream> PopReverseControl(std::chrono::milliseconds timeout);
  void Close(std::string why);  // wakes waiters with an error

 private:
  std::unique_ptr<ByteStream> Take(std::deque<std::unique_ptr<ByteStream>>& q, std::chrono::milliseconds timeout,
                                   const char* what);
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<ByteStream>> q_;
  std::deque<std::unique_ptr<ByteStream>> reverse_;
  bool reverse_taken_ = false;
  uint32_t streams_ = 0;
  std::string closed_;
  ExitCode closed_code_ = ExitCode::SocketIo;
};

// Accepts one data connection on `sock`: TLS (or plain) + DataHello with the right token;
// `stream_no` gets the DataHello's stream number. Returns null (and closes it) for anything
// else: a scanner or a wrong key gets nothing.
std::unique_ptr<ByteStream> AcceptDataConnection(UniqueFd sock, const DataSecurity& sec, const SessionToken& token,
                                                 int timeout_ms, uint32_t* stream_no, std::string* why);

// ssh mode: a listener of this run's own, accepting into a DataQueue until destroyed.
class DataListener {
 public:
  DataListener(const std::string& bind_host, uint16_t port, DataSecurity sec, SessionToken token);
  ~DataListener();
  uint16_t port() const { return port_; }
  DataQueue& queue() { return queue_; }

 private:
  void AcceptLoop();
  UniqueFd listener_;
  uint16_t port_ = 0;
  DataSecurity sec_;
  SessionToken token_;
  DataQueue queue_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool TokensEqual(const SessionToken& a, const SessionToken& b);  // constant time

}  // namespace ktsync

namespace ktsync {
// "kernel TLS", "userspace TLS (kernel TLS unavailable: ...)" or "none (--no-encryption)":
// how data written (send=true) or read on `s` is encrypted, and why.
std::string DescribeEncryption(const ByteStream& s, bool send);
}  // namespace ktsync
