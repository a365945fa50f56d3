#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include "transfer/data_channel.h"
#include "transfer/byte_io.h"
#include "util/error.h"
#include "util/hash.h"

namespace ktsync {
namespace {

// Which files the plan asked for, each to be received once; shared by all streams.
class ExpectedFiles {
 public:
  ExpectedFiles(const std::vector<int64_t>& indices, size_t src_size) : state_(src_size) {
    for (int64_t i : indices) state_[static_cast<size_t>(i)].store(1);
  }
  // Claims `index`; false when the plan did not ask for it or it already arrived.
  bool Claim(int64_t index) {
    if (index < 0 || static_cast<size_t>(index) >= state_.size()) return false;
    uint8_t want = 1;
    return state_[static_cast<size_t>(index)].compare_exchange_strong(want, 2);
  }
  uint64_t Unclaimed() const {
    uint64_t n = 0;
    for (const auto& s : state_) n += s.load() == 1;
    return n;
  }

 private:
  std::vector<std::atomic<uint8_t>> state_;  // 0 not expected, 1 expected, 2 claimed
};

class StreamReceiver {
 public:
  StreamReceiver(std::unique_ptr<ByteStream> stream, int no, const StreamOpener& reopen, const DestTree& tree,
                 const DataReceiveOptions& opts, ExpectedFiles& expected, std::mutex& report_mu,
                 ApplyCounters& counters, Problems& problems)
      : stream_(std::move(stream)), no_(no), reopen_(reopen), tree_(tree.Clone()), opts_(opts),
        expected_(expected), report_mu_(report_mu), counters_(counters), problems_(problems),
        buf_(std::make_unique_for_overwrite<char[]>(kMaxFramePayload)) {}

  void Run() {
    for (;;) {
      std::optional<FrameHeader> h = FrameReader(*stream_).NextHeader();
      if (!h) throw Error(ExitCode::SocketIo, stream_->peer() + ": data connection closed in the middle of the transfer");
      wire_bytes += kFrameHeaderBytes + h->length;
      stream_->ReadExact(buf_.get(), h->length);
      std::string_view payload(buf_.get(), h->length);
      switch (h->type) {
        case FrameType::FileBegin: Begin(payload); break;
        case FrameType::FileData: Data(payload); break;
        case FrameType::FileEnd: End(payload); break;
        case FrameType::Done:
          // in_file_, not file_: a file whose temp could not be created is still mid-stream.
          if (in_file_) ThrowProtocolError("stream ended in the middle of " + Path());
          if (payload == "rotate") {
            stream_ = reopen_(no_);
            continue;
          }
          ExpectEmptyPayload(FrameType::Done, payload);
          stream_->ShutdownWrite();
          return;
        default:
          ThrowProtocolError(std::string("unexpected ") + FrameTypeName(h->type) + " on a data connection");
      }
    }
  }

  uint64_t wire_bytes = 0;
  uint64_t discarded = 0;

 private:
  void Begin(std::string_view payload) {
    if (in_file_) ThrowProtocolError("FileBegin inside another file");
    FileBegin b = DecodeFileBegin(payload, opts_.src->size());
    if (!expected_.Claim(b.index))
      ThrowProtocolError("peer sent file #" + std::to_string(b.index) + ", which the plan did not ask for (or twice)");
    const Entry& e = (*opts_.src)[static_cast<size_t>(b.index)];
    if (b.size != e.size) ThrowProtocolError(e.path + ": announced size differs from the manifest");
    in_file_ = true;
    index_ = b.index;
    left_ = b.size;
    hasher_.Reset();
    try {
      file_.emplace(tree_.CreateFile(e));
    } catch (const Error& err) {
      problems_.Fail(e.path, err.what());  // the data still arrives; it is read and dropped
    }
  }

  void Data(std::string_view payload) {
    if (!in_file_) ThrowProtocolError("file data outside a file");
    if (payload.size() > left_) ThrowProtocolError("file longer than announced: " + Path());
    left_ -= payload.size();
    hasher_.Update(payload.data(), payload.size());
    if (opts_.meter) opts_.meter->AddBytes(payload.size());
    if (!file_) return;
    try {
      file_->Write(payload.data(), payload.size());
    } catch (const Error& err) {
      problems_.Fail(Path(), err.what());
      file_.reset();  // removes the temp file
    }
  }

  void End(std::string_view payload) {
    if (!in_file_) ThrowProtocolError("FileEnd outside a file");
    FileEnd end = DecodeFileEnd(payload);
    in_file_ = false;
    const Entry& e = (*opts_.src)[static_cast<size_t>(index_)];
    if (end.flags & kFileEndDiscard) {  // the sender reports why; DST keeps what it had
      ++discarded;
      file_.reset();
      return;
    }
    if (left_ != 0) ThrowProtocolError("file shorter than announced: " + e.path);
    if (!file_) return;
    Hash128 actual = hasher_.Digest();
    try {
      FinalInfo info = file_->Commit(end.hash, actual, e, opts_.apply.meta, opts_.apply.fsync);
      counters_.files_written.fetch_add(1);
      counters_.bytes_written.fetch_add(e.size);
      if (opts_.meter) opts_.meter->AddFile();
      if (opts_.on_received) {
        std::lock_guard lock(report_mu_);
        opts_.on_received({index_, actual, info});
      }
    } catch (const Error& err) {
      problems_.Fail(e.path, err.what());
    }
    file_.reset();
  }

  std::string Path() const { return (*opts_.src)[static_cast<size_t>(index_)].path; }

  std::unique_ptr<ByteStream> stream_;
  int no_;
  const StreamOpener& reopen_;
  DestTree tree_;
  const DataReceiveOptions& opts_;
  ExpectedFiles& expected_;
  std::mutex& report_mu_;
  ApplyCounters& counters_;
  Problems& problems_;
  std::unique_ptr<char[]> buf_;
  bool in_file_ = false;
  int64_t index_ = -1;
  uint64_t left_ = 0;
  Hasher hasher_;
  std::optional<PendingFile> file_;
};

}  // namespace

DataReceiveResult ReceiveFiles(std::vector<std::unique_ptr<ByteStream>> streams, const StreamOpener& reopen,
                               const DestTree& tree, const DataReceiveOptions& opts, ApplyCounters& counters,
                               Problems& problems) {
  ExpectedFiles expected(opts.expected, opts.src->size());
  std::mutex report_mu;
  std::vector<std::unique_ptr<StreamReceiver>> receivers;
  for (size_t i = 0; i < streams.size(); ++i)
    receivers.push_back(std::make_unique<StreamReceiver>(std::move(streams[i]), static_cast<int>(i), reopen, tree,
                                                         opts, expected, report_mu, counters, problems));
  std::mutex mu;
  std::exception_ptr first_error;
  auto work = [&](StreamReceiver& r) {
    try {
      r.Run();
    } catch (...) {
      std::lock_guard lock(mu);
      if (!first_error) first_error = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < receivers.size(); ++i) threads.emplace_back(work, std::ref(*receivers[i]));
  if (!receivers.empty()) work(*receivers[0]);
  for (auto& t : threads) t.join();
  DataReceiveResult r;
  for (auto& rc : receivers) {
    r.wire_bytes += rc->wire_bytes;
    r.skipped_by_sender += rc->discarded;
  }
  receivers.clear();  // drops unfinished temp files before an error propagates
  if (first_error) std::rethrow_exception(first_error);
  r.skipped_by_sender += expected.Unclaimed();
  return r;
}

}  // namespace ktsync
