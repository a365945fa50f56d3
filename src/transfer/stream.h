// Byte streams between two ktsync processes, and framing on top of them.
//
// ByteStream is a blocking, reliable, ordered byte pipe: FdStream for plain fds (pipes to
// ssh, or a plain TCP socket with --no-encryption), TlsStream (tls_channel.h) for TLS.
// A stream is used by one thread at a time, except that an FdStream may be read by one
// thread and written by another (its directions are separate fds or a socket); all
// failures throw ktsync::Error naming the peer.
//
// FrameReader/FrameWriter move wire frames (wire.h) over a ByteStream: a frame is written
// with one WriteV (header + payload in one syscall / one run of TLS records), and read into
// a buffer that grows only after the header's length passed the protocol cap.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "transfer/wire.h"
#include "util/unique_fd.h"

namespace ktsync {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  virtual void WriteAll(const void* data, size_t len) = 0;
  virtual void WriteV(const struct iovec* iov, int iovcnt) = 0;  // writes every byte
  virtual size_t ReadSome(void* buf, size_t len) = 0;            // 0 = clean end of stream
  // No more writes; the peer reads a clean end of stream. Reading may go on.
  virtual void ShutdownWrite() = 0;
  // From any thread: a read blocked in (or entering) ReadSome fails at once. For tearing
  // down a reader thread when the run ends early.
  virtual void ShutdownRead() = 0;
  // Sends `len` bytes of file_fd starting at `offset` (sendfile(2) where the kernel can, so
  // with kTLS the bytes never enter userspace; else pread + WriteAll). Returns the bytes
  // sent: fewer than `len` only when the file ended early, and then the caller must pad or
  // abort, because the peer expects `len`.
  virtual uint64_t SendFile(int file_fd, uint64_t offset, uint64_t len);

  // EOF before `len` bytes: Error(ExitCode::SocketIo, "<peer>: connection closed by peer ...").
  void ReadExact(void* buf, size_t len);
  // Like ReadExact, but a clean EOF before the first byte returns false.
  bool ReadExactOrEof(void* buf, size_t len);

  // How errors name the other end ("backup.example:7390", "ssh nas").
  const std::string& peer() const { return peer_; }

 protected:
  explicit ByteStream(std::string peer) : peer_(std::move(peer)) {}

 private:
  std::string peer_;
  std::unique_ptr<char[]> file_buf_;  // SendFile's pread buffer, allocated on first use
};

// Sets SIGPIPE to ignored, once, unless the program installed a handler of its own. Without
// this, a write to a pipe or socket whose reader died (ssh exited, peer crashed) kills
// ktsync silently instead of surfacing EPIPE as an error naming the peer. Note: SIG_IGN is
// inherited across exec; a spawner should reset SIGPIPE to SIG_DFL in the child.
void IgnoreSigpipe();

// Writes every byte of iov to fd (sendmsg with MSG_NOSIGNAL when `is_socket`, else writev),
// retrying on EINTR and partial writes. EAGAIN (a socket send timeout) → ExitCode::Timeout.
void WriteFullyV(int fd, bool is_socket, const struct iovec* iov, int iovcnt, const std::string& peer);

// Turns Nagle off on a TCP socket (no-op on other fds). Frames are already written whole, so
// Nagle would only hold back the last small segment of a turn until the peer's delayed ACK:
// 40 ms added to every request/response exchange.
void DisableNagle(int fd);

// sendfile(2) of file_fd [offset, offset+len) to out_fd; returns bytes sent (short only at EOF).
uint64_t SendFileFully(int out_fd, int file_fd, uint64_t offset, uint64_t len, const std::string& peer);

class FdStream : public ByteStream {
 public:
  // One bidirectional fd (a connected socket).
  FdStream(UniqueFd fd, std::string peer);
  // Separate fds (the pipes of an ssh child: its stdout to read, its stdin to write).
  FdStream(UniqueFd read_fd, UniqueFd write_fd, std::string peer);

  void WriteAll(const void* data, size_t len) override;
  void WriteV(const struct iovec* iov, int iovcnt) override;
  size_t ReadSome(void* buf, size_t len) override;
  // Socket: shutdown(SHUT_WR). Separate write fd: closes it.
  void ShutdownWrite() override;
  void ShutdownRead() override;
  uint64_t SendFile(int file_fd, uint64_t offset, uint64_t len) override;

  int read_fd() const { return in_.get(); }  // bytes may wait in our buffer: do not read it
  int write_fd() const { return two_fds_ ? out_.get() : in_.get(); }  // -1 once shut

 private:
  // Reads shorter than this go through a buffer of this size: a control channel's small
  // frames (a header, then a few bytes) cost one read between them, not two each.
  static constexpr size_t kReadBuffer = 64 << 10;

  size_t ReadFd(void* buf, size_t len);
  void OpenWake();
  void WaitReadable();

  UniqueFd in_;
  UniqueFd out_;  // unused when in_ is used both ways
  UniqueFd wake_;  // eventfd that ShutdownRead signals (reads from a pipe only)
  bool two_fds_ = false;
  bool write_is_socket_ = false;
  bool read_is_socket_ = false;
  std::unique_ptr<char[]> rbuf_;  // allocated on the first short read
  size_t rbuf_pos_ = 0, rbuf_end_ = 0;
};

struct Frame {
  FrameType type;
  std::string_view payload;  // valid until the next read from the same FrameReader
};

class FrameWriter {
 public:
  explicit FrameWriter(ByteStream& s) : s_(s) {}
  void Write(FrameType type, std::string_view payload);
  void Write(FrameType type, const void* data, size_t len) {
    Write(type, std::string_view(static_cast<const char*>(data), len));
  }

 private:
  ByteStream& s_;
};

class FrameReader {
 public:
  // `skip_keepalives` false: a Keepalive is returned like any frame (a daemon's first frame).
  explicit FrameReader(ByteStream& s, bool skip_keepalives = true) : s_(s), skip_keepalives_(skip_keepalives) {}

  // The next frame; nullopt on a clean end of stream between frames.
  std::optional<Frame> Next();
  // The next frame, which must be of type `want`. End of stream → SocketIo error; an Error
  // frame from the peer → Error with the peer's exit code and message; any other type →
  // StreamData error.
  Frame Expect(FrameType want);

  // Lower level, for payloads that should land in the caller's buffer (FileData): read a
  // header, then exactly header.length bytes with ReadPayloadInto. Keepalive frames are
  // skipped here (unless told not to), so no state machine ever sees one.
  std::optional<FrameHeader> NextHeader();
  void ReadPayloadInto(void* dst, size_t len) { s_.ReadExact(dst, len); }

 private:
  ByteStream& s_;
  const bool skip_keepalives_;
  std::unique_ptr<char[]> buf_;  // not a std::string: no zero-fill on every resize
  size_t cap_ = 0;
};

}  // namespace ktsync
