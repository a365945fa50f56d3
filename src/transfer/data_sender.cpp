#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "apply/source_read.h"
#include "transfer/compression.h"
#include "transfer/data_channel.h"
#include "transfer/frame_batch.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/open_beneath.h"
#include "util/read_ahead.h"
#include "util/read_hint.h"

namespace ktsync {
namespace {

class StreamSender {
 public:
  StreamSender(std::unique_ptr<ByteStream> stream, int stream_no, const StreamOpener& reopen,
               const DataSendOptions& opts, std::mutex& report_mu, Problems& problems)
      : stream_(std::move(stream)), no_(stream_no), reopen_(reopen), opts_(opts), report_mu_(report_mu),
        problems_(problems), batch_(stream_.get()) {
    if (opts_.compress_level > 0) {
      compressor_.emplace(opts_.compress_level);
      raw_ = std::make_unique_for_overwrite<char[]>(kCompressChunk);
    }
  }

  void Send(const SendItem& item) {
    if (since_rotate_ >= opts_.rotate_after_bytes) Rotate();
    SendOne(item);
    ++taken_;
  }

  // Out with what is batched: nothing more is queued yet, and the receiver may be waiting.
  void Flush() { batch_.Flush(); }

  void Finish() {
    batch_.Add(FrameType::Done, {});
    batch_.Flush();
    stream_->ShutdownWrite();
    // Wait for the receiver's close: it has then written (or rejected) everything we sent.
    // A stream that carried nothing needs no wait (the receiver may never have taken it).
    if (taken_ == 0 && rotated_wire_ == 0) return;
    char sink[64];
    while (stream_->ReadSome(sink, sizeof sink) > 0) {
    }
  }

  uint64_t files = 0, bytes = 0;
  uint64_t wire_bytes() const { return batch_.bytes_written() + rotated_wire_; }

 private:
  void Rotate() {
    batch_.Add(FrameType::Done, "rotate");
    batch_.Flush();
    rotated_wire_ += batch_.bytes_written();
    stream_->ShutdownWrite();
    stream_ = reopen_(no_);
    batch_ = FrameBatch(stream_.get());
    since_rotate_ = 0;
  }

  // A file that cannot be sent still gets FileBegin + FileEnd(discard): the receiver
  // learns at once that it is not coming.
  void Skip(const SendItem& item) {
    std::string msg;
    EncodeFileBegin(FileBegin{item.wire_index, item.entry.size}, msg);
    batch_.Add(FrameType::FileBegin, msg);
    msg.clear();
    EncodeFileEnd(FileEnd{Hash128{}, kFileEndDiscard}, msg);
    batch_.Add(FrameType::FileEnd, msg);
  }

  void SendOne(const SendItem& item) {
    const Entry& e = item.entry;
    // O_NONBLOCK: a file swapped for a FIFO since the scan must not block the open forever.
    UniqueFd fd = OpenSourcePath(opts_.src_root_fd, e.path, O_RDONLY | O_NONBLOCK | O_NOCTTY, opts_.follow_links);
    if (!fd) {
      if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
        problems_.Vanish(e.path, e.path + ": vanished before it could be sent");
      else
        problems_.Fail(e.path, ErrnoMessage("cannot open " + e.path + " to send it", errno));
      return Skip(item);
    }
    AdviseSequentialRead(fd.get(), e.size);
    compress_file_ = compressor_ && !LooksCompressed(e.path);
    gate_ = CompressGate{};
    // Each attempt reads the file as it is then (source_read.h); the receiver drops an
    // attempt ended with kFileEndRetry and takes the next.
    for (int attempt = 1;; ++attempt) {
      struct stat st;
      if (::fstat(fd.get(), &st) != 0) {
        problems_.Fail(e.path, ErrnoMessage("cannot stat " + e.path + " to send it", errno));
        return Skip(item);
      }
      SourceState before = SourceState::Of(st);
      OpenVerdict open = JudgeOpen(e, before, opts_.skip_changing);
      if (open == OpenVerdict::Replaced || open == OpenVerdict::Changed) {
        problems_.Vanish(e.path, NotCopiedMessage(e.path, open));
        return Skip(item);
      }
      FileBegin begin(item.wire_index, before.size);
      if (open == OpenVerdict::Restated) begin.restated_mtime = before.mtime;
      std::string msg;
      EncodeFileBegin(begin, msg);
      batch_.Add(FrameType::FileBegin, msg);

      hasher_.Reset();
      int read_errno = 0;
      uint64_t sent = 0;
      if (::lseek(fd.get(), 0, SEEK_SET) != 0)
        read_errno = errno;
      else
        sent = SendContent(fd.get(), before.size, HasHoles(st), &read_errno);
      struct stat after;
      if (!read_errno && ::fstat(fd.get(), &after) != 0) read_errno = errno;
      ReadVerdict v = read_errno ? ReadVerdict::Dropped
                                 : JudgeRead(before, SourceState::Of(after), sent, attempt, opts_.skip_changing);
      FileEnd end{hasher_.Digest(),
                  v == ReadVerdict::Retry ? kFileEndRetry : v == ReadVerdict::Dropped ? kFileEndDiscard : uint8_t{0}};
      msg.clear();
      EncodeFileEnd(end, msg);
      batch_.Add(FrameType::FileEnd, msg);
      switch (v) {
        case ReadVerdict::Retry: continue;
        case ReadVerdict::Dropped:
          if (read_errno)
            problems_.Fail(e.path, ErrnoMessage("cannot read " + e.path, read_errno));
          else
            problems_.Vanish(e.path, e.path + ": changed while being sent; DST keeps its previous version");
          return;
        case ReadVerdict::KeptChanged:
          problems_.Vanish(e.path, KeptChangedMessage(e.path));
          return Sent(e, before.size, end.hash, std::nullopt);
        case ReadVerdict::Consistent: return Sent(e, before.size, end.hash, before.Identity());
      }
    }
  }

  // `as_read` is the file's identity when the bytes sent are its content (for the cache).
  void Sent(const Entry& e, uint64_t size, const Hash128& hash, std::optional<FileIdentity> as_read) {
    ++files;
    bytes += size;
    if (opts_.meter) opts_.meter->AddFile();
    if (opts_.on_sent && as_read) {
      std::lock_guard lock(report_mu_);
      opts_.on_sent({&e, hash, *as_read});
    }
  }

  // Sends `size` bytes from the start of the file: a sparse one as its data regions and
  // holes. Returns the bytes accounted for: fewer when the file shrank or a read failed.
  uint64_t SendContent(int fd, uint64_t size, bool sparse, int* err) {
    uint64_t pos = 0;
    while (pos < size) {
      uint64_t region = size - pos;
      if (sparse) {
        uint64_t data_at = DataAt(fd, pos, size, err);
        if (*err) break;
        if (data_at > pos) {
          SendHole(data_at - pos);
          pos = data_at;
          continue;
        }
        region = RegionLength(fd, pos, size, err);
        if (*err || region == 0) break;  // a hole where data just was: it changed
      }
      uint64_t n = SendData(fd, region, err);
      pos += n;
      if (n < region) break;
    }
    return pos;
  }

  // Where the next data region starts at or after `pos` (`size` when only a hole is left),
  // and how long the region at `pos` is; the fd is left positioned at `pos`.
  static uint64_t DataAt(int fd, uint64_t pos, uint64_t size, int* err) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno != ENXIO) *err = errno;
    return data < 0 ? size : std::min(static_cast<uint64_t>(data), size);
  }
  static uint64_t RegionLength(int fd, uint64_t pos, uint64_t size, int* err) {
    off_t hole = ::lseek(fd, static_cast<off_t>(pos), SEEK_HOLE);
    if (hole < 0 || ::lseek(fd, static_cast<off_t>(pos), SEEK_SET) < 0) *err = errno;
    return hole < 0 ? 0 : std::min(static_cast<uint64_t>(hole), size) - pos;
  }

  void SendHole(uint64_t len) {
    std::string msg;
    EncodeFileHole(len, msg);
    batch_.Add(FrameType::FileHole, msg);
    hasher_.UpdateZeros(len);
  }

  // Reads up to `len` bytes from the fd's position into FileData frames; returns how many
  // came (fewer: EOF, or an I/O error in *err).
  uint64_t SendData(int fd, uint64_t len, int* err) {
    if (compress_file_) return SendCompressible(fd, len, err);
    uint64_t sent = 0;
    while (sent < len) {
      size_t room = 0;
      char* p = batch_.ReserveData(len - sent, &room);
      ssize_t n = ::read(fd, p, room);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n < 0) *err = errno;
        batch_.CommitData(0);
        break;
      }
      hasher_.Update(p, static_cast<size_t>(n));
      batch_.CommitData(static_cast<size_t>(n));
      Account(static_cast<size_t>(n), static_cast<size_t>(n));
      sent += static_cast<uint64_t>(n);
    }
    return sent;
  }

  // SendData for -z: chunk by chunk, each as FileDataZ when the gate lets it try and it shrank.
  uint64_t SendCompressible(int fd, uint64_t len, int* err) {
    uint64_t sent = 0;
    while (sent < len) {
      ssize_t n = ::read(fd, raw_.get(), std::min<uint64_t>(len - sent, kCompressChunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (n < 0) *err = errno;
        break;
      }
      std::string_view chunk(raw_.get(), static_cast<size_t>(n));
      hasher_.Update(chunk.data(), chunk.size());
      std::optional<std::string_view> packed;
      if (gate_.ShouldTry()) {
        packed = compressor_->Compress(chunk);
        gate_.Tried(packed.has_value());
      }
      batch_.Add(packed ? FrameType::FileDataZ : FrameType::FileData, packed.value_or(chunk));
      Account(chunk.size(), packed.value_or(chunk).size());
      sent += chunk.size();
    }
    return sent;
  }

  // `raw` bytes of the file went out as `wire` payload bytes.
  void Account(size_t raw, size_t wire) {
    if (opts_.limiter) opts_.limiter->Acquire(wire);
    if (opts_.meter) opts_.meter->AddBytes(raw);
    since_rotate_ += wire;
  }

  std::unique_ptr<ByteStream> stream_;
  int no_;
  const StreamOpener& reopen_;
  const DataSendOptions& opts_;
  std::mutex& report_mu_;
  Problems& problems_;
  FrameBatch batch_;
  Hasher hasher_;
  uint64_t since_rotate_ = 0;
  uint64_t rotated_wire_ = 0;
  uint64_t taken_ = 0;
  std::optional<ChunkCompressor> compressor_;  // -z
  std::unique_ptr<char[]> raw_;                // a chunk read for compression
  bool compress_file_ = false;
  CompressGate gate_;
};

}  // namespace

SendQueue::Describe DescribeSendItem() {
  return [](const SendItem& it) { return ReadAheadFile{it.entry.path, it.entry.size}; };
}

DataSendResult SendFiles(std::vector<std::unique_ptr<ByteStream>> streams, const StreamOpener& reopen,
                         SendQueue& queue, const DataSendOptions& opts, Problems& problems) {
  std::mutex report_mu;
  std::vector<std::unique_ptr<StreamSender>> senders;
  for (size_t i = 0; i < streams.size(); ++i)
    senders.push_back(std::make_unique<StreamSender>(std::move(streams[i]), static_cast<int>(i), reopen, opts,
                                                     report_mu, problems));
  ReadAhead read_ahead(opts.src_root_fd, queue, true, opts.follow_links);

  std::mutex mu;
  std::exception_ptr first_error;
  auto work = [&](StreamSender& s) {
    try {
      for (std::vector<SendItem> items;;) {
        if (!queue.TryPopSome(items)) {
          s.Flush();
          if (!queue.PopSome(items)) break;
        }
        for (const SendItem& item : items) s.Send(item);
      }
      // A failed run ends its streams without Done, and waits for no receiver.
      if (!queue.discarded()) s.Finish();
    } catch (...) {
      std::lock_guard lock(mu);
      if (!first_error) first_error = std::current_exception();
      queue.Close(/*discard=*/true);  // the others stop taking new files
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < senders.size(); ++i) threads.emplace_back(work, std::ref(*senders[i]));
  work(*senders[0]);
  for (auto& t : threads) t.join();
  if (first_error) std::rethrow_exception(first_error);

  DataSendResult r;
  for (auto& s : senders) {
    r.files += s->files;
    r.bytes += s->bytes;
    r.wire_bytes += s->wire_bytes();
  }
  return r;
}

}  // namespace ktsync
