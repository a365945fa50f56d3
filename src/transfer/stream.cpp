#include "transfer/stream.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "transfer/byte_io.h"
#include "util/error.h"

namespace ktsync {

namespace {

bool IsSocketFd(int fd) {
  struct stat st;
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

[[noreturn]] void ThrowIoError(const std::string& peer, const char* op, int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) {
    throw Error(ExitCode::Timeout, peer + ": timed out " + op + " (no progress within the I/O timeout)");
  }
  throw SysError(peer + ": " + op, err, ExitCode::SocketIo);
}

}  // namespace

void ByteStream::ReadExact(void* buf, size_t len) {
  if (!ReadExactOrEof(buf, len)) {
    throw Error(ExitCode::SocketIo,
                peer_ + ": connection closed by peer in the middle of a message (after 0 of " + std::to_string(len) + " bytes)");
  }
}

bool ByteStream::ReadExactOrEof(void* buf, size_t len) {
  char* p = static_cast<char*>(buf);
  size_t got = 0;
  while (got < len) {
    size_t n = ReadSome(p + got, len - got);
    if (n == 0) {
      if (got == 0) return false;
      throw Error(ExitCode::SocketIo, peer_ + ": connection closed by peer in the middle of a message (after " +
                                          std::to_string(got) + " of " + std::to_string(len) + " bytes)");
    }
    got += n;
  }
  return true;
}

uint64_t ByteStream::SendFile(int file_fd, uint64_t offset, uint64_t len) {
  constexpr size_t kChunk = 256 * 1024;
  if (!file_buf_) file_buf_ = std::make_unique_for_overwrite<char[]>(kChunk);
  uint64_t done = 0;
  while (done < len) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, len - done));
    ssize_t n = pread(file_fd, file_buf_.get(), want, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError("read of a file being sent to " + peer_, errno, ExitCode::FileIo);
    if (n == 0) break;
    WriteAll(file_buf_.get(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  return done;
}

uint64_t SendFileFully(int out_fd, int file_fd, uint64_t offset, uint64_t len, const std::string& peer) {
  uint64_t done = 0;
  while (done < len) {
    auto pos = static_cast<off_t>(offset + done);
    // sendfile moves at most ~2 GiB per call.
    size_t want = static_cast<size_t>(std::min<uint64_t>(len - done, 1u << 30));
    ssize_t n = sendfile(out_fd, file_fd, &pos, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Which side failed is ambiguous; EPIPE/ECONNRESET/EAGAIN are the socket's.
      if (errno == EPIPE || errno == ECONNRESET || errno == EAGAIN) ThrowIoError(peer, "sending", errno);
      throw SysError("sendfile to " + peer, errno, ExitCode::FileIo);
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  return done;
}

void DisableNagle(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on non-TCP fds
}

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old {};
    if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
      signal(SIGPIPE, SIG_IGN);
    }
  });
}

void WriteFullyV(int fd, bool is_socket, const struct iovec* iov_in, int iovcnt, const std::string& peer) {
  // Partial writes advance through a local copy; the caller's array is const.
  struct iovec local[64];
  while (iovcnt > 0) {
    int n = std::min(iovcnt, static_cast<int>(std::size(local)));
    std::copy(iov_in, iov_in + n, local);
    iov_in += n;
    iovcnt -= n;
    struct iovec* iov = local;
    while (n > 0) {
      ssize_t w;
      if (is_socket) {
        struct msghdr msg {};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<size_t>(n);
        w = sendmsg(fd, &msg, MSG_NOSIGNAL);
      } else {
        w = writev(fd, iov, n);
      }
      if (w < 0) {
        if (errno == EINTR) continue;
        ThrowIoError(peer, "sending", errno);
      }
      auto left = static_cast<size_t>(w);
      while (n > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --n;
      }
      if (n > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
  }
}

namespace {

// A pipe to or from ssh carries whole runs of data when the data goes inside ssh: 64 KiB
// pipes switch between us and ssh for every 64 KiB. Best effort: the system's
// pipe-max-size and per-user pipe limits may refuse, and then the pipe stays as it was.
void WidenPipe(int fd) {
  constexpr int kPipeBytes = 1 << 20;
  (void)::fcntl(fd, F_SETPIPE_SZ, kPipeBytes);
}

}  // namespace

FdStream::FdStream(UniqueFd fd, std::string peer) : ByteStream(std::move(peer)), in_(std::move(fd)) {
  IgnoreSigpipe();
  read_is_socket_ = write_is_socket_ = IsSocketFd(in_.get());
  if (write_is_socket_) DisableNagle(in_.get());
  if (!read_is_socket_) OpenWake();
}

void FdStream::OpenWake() {
  wake_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!wake_) throw SysError("eventfd", errno);
}

FdStream::FdStream(UniqueFd read_fd, UniqueFd write_fd, std::string peer)
    : ByteStream(std::move(peer)), in_(std::move(read_fd)), out_(std::move(write_fd)), two_fds_(true) {
  IgnoreSigpipe();
  read_is_socket_ = IsSocketFd(in_.get());
  write_is_socket_ = IsSocketFd(out_.get());
  if (write_is_socket_) DisableNagle(out_.get());
  if (!read_is_socket_) {
    OpenWake();
    WidenPipe(in_.get());
  }
  if (!write_is_socket_) WidenPipe(out_.get());
}

void FdStream::WriteAll(const void* data, size_t len) {
  struct iovec iov = {const_cast<void*>(data), len};
  WriteV(&iov, 1);
}

void FdStream::WriteV(const struct iovec* iov, int iovcnt) {
  int fd = write_fd();
  if (fd < 0) throw Error(ExitCode::SocketIo, peer() + ": write after the sending side was shut down");
  WriteFullyV(fd, write_is_socket_, iov, iovcnt, peer());
}

size_t FdStream::ReadSome(void* buf, size_t len) {
  if (rbuf_pos_ == rbuf_end_) {
    if (len >= kReadBuffer) return ReadFd(buf, len);
    if (!rbuf_) rbuf_ = std::make_unique_for_overwrite<char[]>(kReadBuffer);
    rbuf_pos_ = 0;
    rbuf_end_ = ReadFd(rbuf_.get(), kReadBuffer);
  }
  size_t n = std::min(len, rbuf_end_ - rbuf_pos_);
  std::memcpy(buf, rbuf_.get() + rbuf_pos_, n);
  rbuf_pos_ += n;
  return n;
}

size_t FdStream::ReadFd(void* buf, size_t len) {
  if (!read_is_socket_) WaitReadable();
  for (;;) {
    ssize_t n = read_is_socket_ ? recv(in_.get(), buf, len, 0) : read(in_.get(), buf, len);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) ThrowIoError(peer(), "receiving", errno);
  }
}

uint64_t FdStream::SendFile(int file_fd, uint64_t offset, uint64_t len) {
  if (write_fd() < 0) throw Error(ExitCode::SocketIo, peer() + ": write after the sending side was shut down");
  if (!write_is_socket_) return ByteStream::SendFile(file_fd, offset, len);
  return SendFileFully(write_fd(), file_fd, offset, len, peer());
}

// A pipe cannot be shut down, and closing it does not wake a thread blocked reading it:
// reads from a pipe wait in poll() together with an eventfd that ShutdownRead signals.
void FdStream::WaitReadable() {
  for (;;) {
    struct pollfd p[2] = {{in_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) ThrowIoError(peer(), "waiting to receive", errno);
    if (p[1].revents) throw Error(ExitCode::SocketIo, peer() + ": reading was stopped");
    return;
  }
}

void FdStream::ShutdownRead() {
  if (read_is_socket_) {
    ::shutdown(in_.get(), SHUT_RD);
    return;
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void FdStream::ShutdownWrite() {
  if (two_fds_) {
    out_.reset();
  } else if (write_is_socket_ && shutdown(in_.get(), SHUT_WR) != 0 && errno != ENOTCONN) {
    ThrowIoError(peer(), "shutting down the connection", errno);
  }
}

void FrameWriter::Write(FrameType type, std::string_view payload) {
  unsigned char header[kFrameHeaderBytes];
  EncodeFrameHeader(type, payload.size(), header);
  struct iovec iov[2] = {{header, sizeof header}, {const_cast<char*>(payload.data()), payload.size()}};
  s_.WriteV(iov, payload.empty() ? 1 : 2);
}

std::optional<FrameHeader> FrameReader::NextHeader() {
  for (;;) {
    unsigned char header[kFrameHeaderBytes];
    if (!s_.ReadExactOrEof(header, sizeof header)) return std::nullopt;
    FrameHeader h = DecodeFrameHeader(header);  // rejects oversized lengths before anything grows
    if (h.type == FrameType::Keepalive && h.length != 0) ThrowProtocolError("Keepalive frame with a payload");
    if (h.type != FrameType::Keepalive || !skip_keepalives_) return h;
  }
}

std::optional<Frame> FrameReader::Next() {
  std::optional<FrameHeader> h = NextHeader();
  if (!h) return std::nullopt;
  if (h->length > cap_) {
    size_t cap = std::max<size_t>({h->length, 2 * cap_, 4096});
    cap = std::min<size_t>(cap, kMaxFramePayload);
    buf_ = std::make_unique_for_overwrite<char[]>(cap);
    cap_ = cap;
  }
  s_.ReadExact(buf_.get(), h->length);
  return Frame{h->type, std::string_view(buf_.get(), h->length)};
}

Frame FrameReader::Expect(FrameType want) {
  std::optional<Frame> f = Next();
  if (!f) {
    throw Error(ExitCode::SocketIo,
                s_.peer() + ": connection closed by peer while waiting for " + FrameTypeName(want));
  }
  if (f->type == want) return *f;
  if (f->type == FrameType::Error) {
    ErrorMessage m = DecodeError(f->payload);
    throw Error(m.code, s_.peer() + ": " + m.message);
  }
  ThrowProtocolError(std::string("expected ") + FrameTypeName(want) + " from " + s_.peer() + ", got " +
                     FrameTypeName(f->type));
}

}  // namespace ktsync
