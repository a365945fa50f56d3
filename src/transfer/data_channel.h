// The bulk phase: file contents moving over N data connections, while the plan is still
// being made.
//
// Sender: N threads take files from one queue (so a big file on one stream does not hold
// up small files on the others; ReadAhead warms the queue), read each once, hashing the
// bytes as they go, and write FileBegin / FileData* / FileEnd frames. Every file taken gets
// its FileEnd: one that changed while read, or could not be opened, ends with the discard
// flag (and its problem is recorded here), so the receiver hears of every file it asked for.
//
// Receiver: N threads accept whatever arrives, write each file unnamed (or under a temp name)
// beside its target and link it into place only when the hash of the written bytes equals
// FileEnd's. Every frame is checked: only files the destination asked for, each once, never
// longer than announced. Each asked-for file is reported once, committed or not.
//
// A stream ends with Done; Done with payload "rotate" means "continue on a new connection"
// (keys are replaced long before AES-GCM's usage limit). `StreamOpener` yields the next
// connection (connect on the client, accept on the server).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "apply/apply_action.h"
#include "apply/dest_tree.h"
#include "transfer/rate_limiter.h"
#include "transfer/stream.h"
#include "util/problems.h"
#include "util/transfer_meter.h"
#include "util/work_queue.h"

namespace ktsync {

using StreamOpener = std::function<std::unique_ptr<ByteStream>(int stream_no)>;

// Bytes of file data after which a sender rotates its connection. AES-128-GCM may protect
// at most 2^24.5 full records (~380 GiB of 16 KiB records) under one key.
inline constexpr uint64_t kDefaultRotateBytes = 256ull << 30;

struct SendItem {
  int64_t wire_index = -1;  // the index the receiver knows the file by
  Entry entry;              // as this side listed it
};
using SendQueue = WorkQueue<SendItem>;
SendQueue::Describe DescribeSendItem();  // for the queue's ReadAhead

// Valid only during the OnFileSent call.
struct SentFile {
  const Entry* entry;
  Hash128 hash;
  FileIdentity key;  // the file as it was read, for the sender's hash cache
};

// Called for each file as it is sent, from the stream threads but one call at a time: the
// caller records hashes as files go, so nothing per file piles up in memory.
using OnFileSent = std::function<void(const SentFile&)>;

struct DataSendOptions {
  int src_root_fd = -1;
  OnFileSent on_sent;  // optional
  uint64_t rotate_after_bytes = kDefaultRotateBytes;
  RateLimiter* limiter = nullptr;
  TransferMeter* meter = nullptr;  // live progress, optional
  bool skip_changing = false;      // apply/source_read.h
  bool follow_links = false;       // -L: files are opened through symlinks (OpenSourcePath)
  int compress_level = 0;          // zstd on chunks that shrink (compression.h); 0 = off
};

struct DataSendResult {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t wire_bytes = 0;
};

// Runs one sender thread per stream until `queue` is closed and empty; ends each stream
// with Done. Throws the first run-ending error (the peer gone) once every thread stopped.
DataSendResult SendFiles(std::vector<std::unique_ptr<ByteStream>> streams, const StreamOpener& reopen,
                         SendQueue& queue, const DataSendOptions& opts, Problems& problems);

// Files the destination asked for and has not received, by wire index; shared by the
// receiver threads.
class ExpectedFiles {
 public:
  struct File {
    Entry entry;          // the source's entry: size, and the metadata to commit with
    uint64_t cookie = 0;  // the caller's, handed back when the file is done
  };
  void Add(int64_t index, File f);
  // Takes the file out; nullopt when it was not asked for (or already arrived).
  std::optional<File> Claim(int64_t index);
  std::vector<std::pair<int64_t, File>> TakeAll();  // what never arrived
  size_t size() const;
  // Nothing more will be asked for. Before this, a sender's final Done is a protocol error.
  void Close();
  bool closed() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<int64_t, File> files_;
  bool closed_ = false;
};

struct ReceivedFile {
  int64_t index;
  const ExpectedFiles::File& file;
  bool ok;        // committed; otherwise its problem was recorded (or the sender's will be)
  bool discarded; // the sender ended it with the discard flag: its report says why
  Hash128 hash;   // ok only
  FinalInfo info; // ok only
};
// Called once per claimed file, from the stream threads (concurrently).
using OnFileReceived = std::function<void(const ReceivedFile&)>;

struct DataReceiveOptions {
  ApplyOptions apply;
  OnFileReceived on_file;
  // The first run-ending error of any stream (the others are then stopped), once.
  std::function<void(std::exception_ptr)> on_fatal;
  TransferMeter* meter = nullptr;  // live progress, optional
  // The Request asked for compressed file data (-z): FileDataZ frames are a protocol error
  // otherwise (a decompressor's memory and CPU only for a run that chose them).
  bool compressed = false;
};

struct DataReceiveResult {
  uint64_t wire_bytes = 0;
};

// One receiver thread per stream, from construction until each stream's final Done.
class FileReceiver {
 public:
  FileReceiver(std::vector<std::unique_ptr<ByteStream>> streams, StreamOpener reopen, const DestTree& tree,
               ExpectedFiles& expected, DataReceiveOptions opts, Problems& problems);
  ~FileReceiver();  // stops whatever still runs; unfinished files are dropped
  FileReceiver(const FileReceiver&) = delete;
  FileReceiver& operator=(const FileReceiver&) = delete;

  // Waits for every stream's Done; rethrows the first run-ending error.
  DataReceiveResult Join();
  // The run ends for a reason found elsewhere (the control channel failed): the streams
  // stop, on_fatal is called, and Join rethrows `why` (unless an error came first).
  void Stop(std::exception_ptr why) { Fatal(why); }

 private:
  class Stream;
  void Fatal(std::exception_ptr e);

  StreamOpener reopen_;
  ExpectedFiles& expected_;
  DataReceiveOptions opts_;
  Problems& problems_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::mutex mu_;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace ktsync
