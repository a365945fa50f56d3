#include "transfer/mux.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "transfer/byte_io.h"
#include "util/error.h"

namespace ktsync {
namespace {

enum class Kind : uint8_t { Open = 1, Data = 2, Credit = 3, Eof = 4, Close = 5 };

struct ChunkHeader {
  uint32_t channel;
  Kind kind;
  uint32_t value;
};

void EncodeChunkHeader(const ChunkHeader& h, unsigned char out[Mux::kHeaderBytes]) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<unsigned char>(h.channel >> (8 * i));
  out[4] = static_cast<unsigned char>(h.kind);
  for (int i = 0; i < 4; ++i) out[5 + i] = static_cast<unsigned char>(h.value >> (8 * i));
}

ChunkHeader DecodeChunkHeader(const unsigned char in[Mux::kHeaderBytes]) {
  ByteReader r(std::string_view(reinterpret_cast<const char*>(in), Mux::kHeaderBytes), "ssh channel chunk");
  ChunkHeader h;
  h.channel = r.U32("channel");
  uint8_t kind = r.U8("kind");
  if (kind < 1 || kind > 5) ThrowProtocolError("unknown ssh channel chunk kind " + std::to_string(kind));
  h.kind = static_cast<Kind>(kind);
  h.value = r.U32("value");
  // Open, Eof and Close carry nothing: a value there is a peer that speaks something else.
  bool signal = h.kind == Kind::Open || h.kind == Kind::Eof || h.kind == Kind::Close;
  if (signal && h.value != 0)
    ThrowProtocolError("ssh channel chunk of kind " + std::to_string(kind) + " with value " + std::to_string(h.value));
  return h;
}

struct Chunk {
  std::unique_ptr<char[]> data;
  size_t len = 0;
  size_t off = 0;
};

struct Channel {
  explicit Channel(uint32_t i) : id(i) {}
  const uint32_t id;
  std::deque<Chunk> in;
  size_t buffered = 0;              // bytes waiting in `in`
  uint64_t granted = Mux::kWindow;  // bytes the peer may still send us
  uint64_t unreported = 0;          // consumed here, not yet credited back
  uint64_t credit = Mux::kWindow;   // bytes we may still send
  bool eof = false;                 // the peer shut its direction
  bool peer_closed = false;
  bool read_shut = false;
  bool write_shut = false;
};

}  // namespace

class MuxCore {
 public:
  MuxCore(ByteStream& carrier, Mux::Side side, std::unique_ptr<ByteStream> owned)
      : carrier_(carrier), owned_(std::move(owned)), side_(side) {
    channels_.emplace(0, std::make_shared<Channel>(0));
  }

  void Start() {
    reader_ = std::thread([this] { ReadLoop(); });
  }

  void Stop(bool orderly) {
    ShutCarrierWrite();
    if (!orderly) carrier_.ShutdownRead();
    if (reader_.joinable()) reader_.join();
    Fail(ExitCode::SocketIo, carrier_.peer() + ": the ssh connection's channels were closed");
  }

  std::shared_ptr<Channel> Take(uint32_t id) {
    std::lock_guard lock(mu_);
    return channels_.at(id);
  }

  std::shared_ptr<Channel> Open() {
    std::shared_ptr<Channel> ch;
    {
      std::lock_guard lock(mu_);
      ch = std::make_shared<Channel>(++last_id_);
      channels_.emplace(ch->id, ch);
    }
    SendSignal(ch->id, Kind::Open, 0);
    return ch;
  }

  std::shared_ptr<Channel> Accept(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !accept_q_.empty() || !failed_.empty(); })) {
      throw Error(ExitCode::Timeout, "no data channel arrived inside the ssh connection within " +
                                         std::to_string(timeout.count() / 1000) + " s");
    }
    if (accept_q_.empty()) throw Error(failed_code_, failed_);
    auto ch = std::move(accept_q_.front());
    accept_q_.pop_front();
    return ch;
  }

  void Write(Channel& ch, const struct iovec* iov, int iovcnt) {
    size_t total = 0;
    for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
    int at = 0;        // iov[at] + off: the next byte to send
    size_t off = 0;
    while (total > 0) {
      size_t n = ReserveCredit(ch, total);
      unsigned char header[Mux::kHeaderBytes];
      EncodeChunkHeader({ch.id, Kind::Data, static_cast<uint32_t>(n)}, header);
      std::vector<struct iovec> parts{{header, sizeof header}};
      for (size_t left = n; left > 0;) {
        size_t take = std::min(left, iov[at].iov_len - off);
        if (take > 0) parts.push_back({static_cast<char*>(iov[at].iov_base) + off, take});
        left -= take;
        off += take;
        if (off == iov[at].iov_len) {
          ++at;
          off = 0;
        }
      }
      SendChunk(parts.data(), static_cast<int>(parts.size()));
      total -= n;
    }
  }

  size_t Read(Channel& ch, void* buf, size_t len, const std::string& peer) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ch.buffered > 0 || ch.eof || ch.peer_closed || ch.read_shut || !failed_.empty(); });
    if (ch.read_shut) throw Error(ExitCode::SocketIo, peer + ": reading was shut down");
    if (ch.buffered == 0) {
      if (ch.eof) return 0;
      if (ch.peer_closed) throw Error(ExitCode::SocketIo, peer + ": the other end closed this channel");
      throw Error(failed_code_, failed_);
    }
    size_t n = 0;
    char* out = static_cast<char*>(buf);
    while (n < len && !ch.in.empty()) {
      Chunk& c = ch.in.front();
      size_t take = std::min(len - n, c.len - c.off);
      std::memcpy(out + n, c.data.get() + c.off, take);
      n += take;
      c.off += take;
      if (c.off == c.len) {
        GiveBack(std::move(c));
        ch.in.pop_front();
      }
    }
    ch.buffered -= n;
    ch.unreported += n;
    // Credit back in quarters of the window: few chunks, and the writer never runs dry.
    uint64_t credit = 0;
    if (ch.unreported >= Mux::kWindow / 4 && !ch.eof) {
      credit = ch.unreported;
      ch.granted += credit;
      ch.unreported = 0;
    }
    lock.unlock();
    if (credit > 0) SendSignal(ch.id, Kind::Credit, static_cast<uint32_t>(credit));
    return n;
  }

  void ShutWrite(Channel& ch) {
    {
      std::lock_guard lock(mu_);
      if (ch.write_shut) return;
      ch.write_shut = true;
    }
    SendSignal(ch.id, Kind::Eof, 0);
  }

  void ShutRead(Channel& ch) {
    std::lock_guard lock(mu_);
    ch.read_shut = true;
    cv_.notify_all();
  }

  // The local stream is gone: later chunks for it are dropped, and the peer is told.
  void Drop(Channel& ch) noexcept {
    bool tell = false;
    {
      std::lock_guard lock(mu_);
      channels_.erase(ch.id);
      tell = failed_.empty() && !(ch.write_shut && ch.eof);
    }
    if (!tell) return;
    try {
      SendSignal(ch.id, Kind::Close, 0);
    } catch (const Error&) {
      // The carrier is gone: the peer learns that from it.
    }
  }

  const std::string& peer() const { return carrier_.peer(); }

 private:
  size_t ReserveCredit(Channel& ch, size_t want) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return ch.credit > 0 || ch.peer_closed || !failed_.empty(); });
    if (!failed_.empty()) throw Error(failed_code_, failed_);
    if (ch.peer_closed) throw Error(ExitCode::SocketIo, carrier_.peer() + ": the other end closed a channel being written");
    if (ch.write_shut) throw Error(ExitCode::SocketIo, carrier_.peer() + ": write after the channel was shut");
    size_t n = std::min<uint64_t>({want, ch.credit, Mux::kMaxChunk});
    ch.credit -= n;
    return n;
  }

  void SendSignal(uint32_t channel, Kind kind, uint32_t value) {
    unsigned char header[Mux::kHeaderBytes];
    EncodeChunkHeader({channel, kind, value}, header);
    struct iovec v{header, sizeof header};
    SendChunk(&v, 1);
  }

  void SendChunk(const struct iovec* iov, int n) {
    std::lock_guard lock(write_mu_);
    if (write_shut_) throw Error(ExitCode::SocketIo, carrier_.peer() + ": the ssh connection was closed");
    try {
      carrier_.WriteV(iov, n);
    } catch (const Error& e) {
      Fail(e.code(), e.what());
      throw;
    }
  }

  void ShutCarrierWrite() noexcept {
    std::lock_guard lock(write_mu_);
    if (write_shut_) return;
    write_shut_ = true;
    try {
      carrier_.ShutdownWrite();
    } catch (const Error&) {
    }
  }

  void Fail(ExitCode code, const std::string& why) {
    std::lock_guard lock(mu_);
    if (!failed_.empty()) return;
    failed_ = why;
    failed_code_ = code;
    cv_.notify_all();
  }

  void ReadLoop() {
    try {
      for (;;) {
        unsigned char header[Mux::kHeaderBytes];
        if (!carrier_.ReadExactOrEof(header, sizeof header)) {
          Fail(ExitCode::SocketIo, carrier_.peer() + ": the ssh connection closed");
          return;
        }
        Dispatch(DecodeChunkHeader(header));
      }
    } catch (const Error& e) {
      Fail(e.code(), e.what());
    }
  }

  void Dispatch(const ChunkHeader& h) {
    if (h.kind == Kind::Open) return OnOpen(h.channel);
    std::shared_ptr<Channel> ch = Find(h.channel);
    if (h.kind == Kind::Data) return OnData(ch, h);
    if (!ch) return;  // a channel dropped here: nothing more to do for it
    std::lock_guard lock(mu_);
    switch (h.kind) {
      case Kind::Credit:
        if (h.value > Mux::kWindow - ch->credit) ThrowProtocolError("credit beyond the window on channel " + std::to_string(h.channel));
        ch->credit += h.value;
        break;
      case Kind::Eof: ch->eof = true; break;
      case Kind::Close: ch->peer_closed = true; break;
      default: break;
    }
    cv_.notify_all();
  }

  // Full-size chunks get recycled buffers: a fresh 256 KiB allocation per chunk is an mmap
  // and 64 page faults. Others (control frames, the tail of a write) get exactly their
  // size, so a channel's buffered chunks never hold more memory than its window.
  std::unique_ptr<char[]> TakeBuffer(size_t len) {
    if (len < Mux::kMaxChunk) return std::make_unique_for_overwrite<char[]>(len);
    std::lock_guard lock(mu_);
    if (spare_.empty()) return std::make_unique_for_overwrite<char[]>(Mux::kMaxChunk);
    auto buf = std::move(spare_.back());
    spare_.pop_back();
    return buf;
  }

  // Under mu_.
  void GiveBack(Chunk&& c) {
    if (c.len == Mux::kMaxChunk && spare_.size() < kMaxSpare) spare_.push_back(std::move(c.data));
  }

  // Null for a channel this end dropped; a protocol error for one that never existed.
  std::shared_ptr<Channel> Find(uint32_t id) {
    std::lock_guard lock(mu_);
    auto it = channels_.find(id);
    if (it != channels_.end()) return it->second;
    if (id > last_id_) ThrowProtocolError("chunk for channel " + std::to_string(id) + ", which was never opened");
    return nullptr;
  }

  void OnOpen(uint32_t id) {
    std::lock_guard lock(mu_);
    if (side_ != Mux::Side::Server) ThrowProtocolError("the server opened a channel");
    if (id <= last_id_) ThrowProtocolError("channel " + std::to_string(id) + " opened out of order");
    if (channels_.size() >= Mux::kMaxChannels) ThrowProtocolError("more than 64 channels open at once");
    last_id_ = id;
    auto ch = std::make_shared<Channel>(id);
    channels_.emplace(id, ch);
    accept_q_.push_back(std::move(ch));
    cv_.notify_all();
  }

  void OnData(const std::shared_ptr<Channel>& ch, const ChunkHeader& h) {
    if (h.value == 0 || h.value > Mux::kMaxChunk) ThrowProtocolError("data chunk of " + std::to_string(h.value) + " bytes");
    if (ch) {
      std::lock_guard lock(mu_);
      if (ch->eof) ThrowProtocolError("data after the end of channel " + std::to_string(h.channel));
      if (h.value > ch->granted) ThrowProtocolError("data beyond the credit of channel " + std::to_string(h.channel));
      ch->granted -= h.value;
    }
    Chunk c{TakeBuffer(h.value), h.value};
    carrier_.ReadExact(c.data.get(), c.len);
    std::lock_guard lock(mu_);
    if (!ch) return GiveBack(std::move(c));
    ch->buffered += c.len;
    ch->in.push_back(std::move(c));
    cv_.notify_all();
  }

  ByteStream& carrier_;
  std::unique_ptr<ByteStream> owned_;
  const Mux::Side side_;
  std::thread reader_;

  std::mutex mu_;  // everything below but the write side
  std::condition_variable cv_;
  std::map<uint32_t, std::shared_ptr<Channel>> channels_;
  std::deque<std::shared_ptr<Channel>> accept_q_;
  uint32_t last_id_ = 0;
  std::string failed_;
  ExitCode failed_code_ = ExitCode::SocketIo;

  static constexpr size_t kMaxSpare = 16;
  std::vector<std::unique_ptr<char[]>> spare_;  // kMaxChunk buffers to reuse

  std::mutex write_mu_;  // one chunk at a time on the carrier
  bool write_shut_ = false;
};

namespace {

class MuxStream final : public ByteStream {
 public:
  MuxStream(std::shared_ptr<MuxCore> core, std::shared_ptr<Channel> ch)
      : ByteStream(core->peer() + " (channel " + std::to_string(ch->id) + ")"), core_(std::move(core)),
        ch_(std::move(ch)) {}
  ~MuxStream() override { core_->Drop(*ch_); }

  void WriteAll(const void* data, size_t len) override {
    struct iovec v{const_cast<void*>(data), len};
    core_->Write(*ch_, &v, 1);
  }
  void WriteV(const struct iovec* iov, int iovcnt) override { core_->Write(*ch_, iov, iovcnt); }
  size_t ReadSome(void* buf, size_t len) override { return core_->Read(*ch_, buf, len, peer()); }
  void ShutdownWrite() override { core_->ShutWrite(*ch_); }
  void ShutdownRead() override { core_->ShutRead(*ch_); }

 private:
  std::shared_ptr<MuxCore> core_;
  std::shared_ptr<Channel> ch_;
};

}  // namespace

Mux::Mux(ByteStream& carrier, Side side, std::unique_ptr<ByteStream> owned)
    : core_(std::make_shared<MuxCore>(carrier, side, std::move(owned))) {
  core_->Start();
}

Mux::~Mux() { core_->Stop(/*orderly=*/false); }

std::unique_ptr<ByteStream> Mux::Control() { return std::make_unique<MuxStream>(core_, core_->Take(0)); }

std::unique_ptr<ByteStream> Mux::Open() { return std::make_unique<MuxStream>(core_, core_->Open()); }

std::unique_ptr<ByteStream> Mux::Accept(std::chrono::milliseconds timeout) {
  return std::make_unique<MuxStream>(core_, core_->Accept(timeout));
}

void Mux::Finish() { core_->Stop(/*orderly=*/true); }

bool IsMuxChannel(const ByteStream& s) { return dynamic_cast<const MuxStream*>(&s) != nullptr; }

}  // namespace ktsync
