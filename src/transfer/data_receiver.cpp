#include <optional>

#include "apply/source_read.h"
#include "transfer/byte_io.h"
#include "transfer/compression.h"
#include "transfer/data_channel.h"
#include "util/error.h"
#include "util/hash.h"

namespace ktsync {

void ExpectedFiles::Add(int64_t index, File f) {
  std::lock_guard lock(mu_);
  files_.insert_or_assign(index, std::move(f));
}

std::optional<ExpectedFiles::File> ExpectedFiles::Claim(int64_t index) {
  std::lock_guard lock(mu_);
  auto it = files_.find(index);
  if (it == files_.end()) return std::nullopt;
  File f = std::move(it->second);
  files_.erase(it);
  return f;
}

std::vector<std::pair<int64_t, ExpectedFiles::File>> ExpectedFiles::TakeAll() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<int64_t, File>> out;
  for (auto& [index, f] : files_) out.emplace_back(index, std::move(f));
  files_.clear();
  return out;
}

size_t ExpectedFiles::size() const {
  std::lock_guard lock(mu_);
  return files_.size();
}

void ExpectedFiles::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

bool ExpectedFiles::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

class FileReceiver::Stream {
 public:
  Stream(std::unique_ptr<ByteStream> stream, int no, FileReceiver& owner, const DestTree& tree)
      : stream_(std::move(stream)), no_(no), owner_(owner), tree_(tree.Clone()),
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
        case FrameType::FileDataZ:
          if (!owner_.opts_.compressed) ThrowProtocolError("compressed file data in a run without -z");
          Data(Unpacker().Decompress(payload));
          break;
        case FrameType::FileHole: Hole(payload); break;
        case FrameType::FileEnd: End(payload); break;
        case FrameType::Done:
          // file_ (the claimed entry), not pending_: a file whose temp could not be created
          // is still mid-stream.
          if (file_) ThrowProtocolError("stream ended in the middle of " + file_->entry.path);
          if (payload == "rotate") {
            std::lock_guard lock(mu_);
            stream_ = owner_.reopen_(no_);
            continue;
          }
          ExpectEmptyPayload(FrameType::Done, payload);
          if (!owner_.expected_.closed()) ThrowProtocolError("data connection ended while files were still due");
          stream_->ShutdownWrite();
          return;
        default:
          ThrowProtocolError(std::string("unexpected ") + FrameTypeName(h->type) + " on a data connection");
      }
    }
  }

  void Interrupt() {
    std::lock_guard lock(mu_);
    stream_->ShutdownRead();
  }

  // The stream died mid-file: that file is done too, not ok.
  void Abandon() {
    if (!file_) return;
    ExpectedFiles::File f = std::move(*file_);
    file_.reset();
    pending_.reset();
    if (owner_.opts_.on_file) owner_.opts_.on_file(ReceivedFile{index_, f, false, false, Hash128{}, FinalInfo{}});
  }

  uint64_t wire_bytes = 0;

 private:
  void Begin(std::string_view payload) {
    if (file_ && !retry_due_) ThrowProtocolError("FileBegin inside another file");
    FileBegin b = DecodeFileBegin(payload);
    if (retry_due_) {
      if (b.index != index_)
        ThrowProtocolError(file_->entry.path + " was retried, but file #" + std::to_string(b.index) + " came");
      retry_due_ = false;
    } else {
      file_ = owner_.expected_.Claim(b.index);
      if (!file_) ThrowProtocolError("peer sent file #" + std::to_string(b.index) + ", which was not asked for (or twice)");
      listed_ = {file_->entry.size, file_->entry.mtime};
      attempts_ = 0;
    }
    ++attempts_;
    Entry& e = file_->entry;
    if (b.restated_mtime) {
      e.size = b.size;
      e.mtime = *b.restated_mtime;
    } else {
      if (b.size != listed_.size) ThrowProtocolError(e.path + ": announced size differs from the file list");
      e.size = listed_.size;
      e.mtime = listed_.mtime;
    }
    index_ = b.index;
    left_ = b.size;
    hasher_.Reset();
    try {
      pending_.emplace(tree_.CreateFile(e));
    } catch (const Error& err) {
      owner_.problems_.Fail(e.path, err.what());  // the data still arrives; it is read and dropped
    }
  }

  ChunkDecompressor& Unpacker() {
    if (!unpacker_) unpacker_.emplace();
    return *unpacker_;
  }

  // Between FileBegin and FileEnd, and no retry due.
  void ExpectInFile(const char* what) {
    if (!file_ || retry_due_) ThrowProtocolError(std::string(what) + " outside a file");
  }

  void Data(std::string_view payload) {
    ExpectInFile("file data");
    if (payload.size() > left_) ThrowProtocolError("file longer than announced: " + file_->entry.path);
    left_ -= payload.size();
    hasher_.Update(payload.data(), payload.size());
    if (owner_.opts_.meter) owner_.opts_.meter->AddBytes(payload.size());
    if (!pending_) return;
    try {
      pending_->Write(payload.data(), payload.size());
    } catch (const Error& err) {
      owner_.problems_.Fail(file_->entry.path, err.what());
      pending_.reset();  // removes the temp file
    }
  }

  // A hole of a sparse file: skipped, so it stays one. Hashed as the zeros it reads as, only
  // while the file is still being written (a failed one's hash is never looked at).
  void Hole(std::string_view payload) {
    ExpectInFile("file hole");
    uint64_t len = DecodeFileHole(payload);
    if (len > left_) ThrowProtocolError("file longer than announced: " + file_->entry.path);
    left_ -= len;
    if (!pending_) return;
    try {
      pending_->Skip(len);  // first: beyond the filesystem's largest file it fails, unhashed
      hasher_.UpdateZeros(len);
    } catch (const Error& err) {
      owner_.problems_.Fail(file_->entry.path, err.what());
      pending_.reset();
    }
  }

  void End(std::string_view payload) {
    ExpectInFile("FileEnd");
    FileEnd end = DecodeFileEnd(payload);
    if (end.flags & kFileEndRetry) {
      if (attempts_ >= kMaxReadAttempts)
        ThrowProtocolError(file_->entry.path + " sent more than " + std::to_string(kMaxReadAttempts) + " times");
      pending_.reset();
      retry_due_ = true;
      return;
    }
    bool discarded = end.flags & kFileEndDiscard;
    // Thrown while file_ is held, so that Abandon reports the file.
    if (!discarded && left_ != 0) ThrowProtocolError("file shorter than announced: " + file_->entry.path);
    ExpectedFiles::File f = std::move(*file_);
    file_.reset();
    ReceivedFile r{index_, f, false, discarded, Hash128{}, FinalInfo{}};
    // Discarded: the sender reports why; DST keeps what it had.
    if (!discarded) {
      if (pending_) {
        r.hash = hasher_.Digest();
        try {
          r.info = pending_->Commit(end.hash, r.hash, f.entry, owner_.opts_.apply.meta, owner_.opts_.apply.fsync);
          r.ok = true;
        } catch (const Error& err) {
          owner_.problems_.Fail(f.entry.path, err.what());
        }
      }
    }
    pending_.reset();
    if (owner_.opts_.on_file) owner_.opts_.on_file(r);
  }

  std::unique_ptr<ByteStream> stream_;
  std::mutex mu_;  // stream_ is replaced on rotation while Interrupt may come
  int no_;
  FileReceiver& owner_;
  DestTree tree_;
  std::unique_ptr<char[]> buf_;
  std::optional<ExpectedFiles::File> file_;  // the file between FileBegin and FileEnd
  int64_t index_ = -1;
  struct {
    uint64_t size = 0;
    Timestamp mtime;
  } listed_;               // file_ as listed, before any restatement
  int attempts_ = 0;       // FileBegins of file_
  bool retry_due_ = false; // file_'s last attempt ended with kFileEndRetry
  uint64_t left_ = 0;
  Hasher hasher_;
  std::optional<PendingFile> pending_;
  std::optional<ChunkDecompressor> unpacker_;  // on the first FileDataZ
};

FileReceiver::FileReceiver(std::vector<std::unique_ptr<ByteStream>> streams, StreamOpener reopen,
                           const DestTree& tree, ExpectedFiles& expected, DataReceiveOptions opts, Problems& problems)
    : reopen_(std::move(reopen)), expected_(expected), opts_(std::move(opts)), problems_(problems) {
  for (size_t i = 0; i < streams.size(); ++i)
    streams_.push_back(std::make_unique<Stream>(std::move(streams[i]), static_cast<int>(i), *this, tree));
  for (auto& s : streams_) {
    threads_.emplace_back([this, st = s.get()] {
      try {
        st->Run();
      } catch (...) {
        std::exception_ptr e = std::current_exception();
        st->Abandon();
        Fatal(e);
      }
    });
  }
}

FileReceiver::~FileReceiver() {
  if (threads_.empty()) return;
  for (auto& s : streams_) s->Interrupt();
  for (auto& t : threads_) t.join();
}

void FileReceiver::Fatal(std::exception_ptr e) {
  {
    std::lock_guard lock(mu_);
    if (error_) return;
    error_ = e;
    for (auto& s : streams_) s->Interrupt();  // the run ends: the other streams stop too
  }
  if (opts_.on_fatal) opts_.on_fatal(e);
}

DataReceiveResult FileReceiver::Join() {
  for (auto& t : threads_) t.join();
  threads_.clear();
  DataReceiveResult r;
  std::lock_guard lock(mu_);  // a Stop may come from another thread
  for (auto& s : streams_) r.wire_bytes += s->wire_bytes;
  streams_.clear();  // drops unfinished temp files before an error propagates
  if (error_) std::rethrow_exception(error_);
  return r;
}

}  // namespace ktsync
