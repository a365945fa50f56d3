// The bulk phase: file contents moving over N data connections.
//
// Sender: N threads take files from one shared list (so a big file on one stream does not
// hold up small files on the others), read each once — hashing the bytes as they go — and
// write FileBegin / FileData* / FileEnd frames. A source that changes while it is read gets
// FileEnd with the discard flag and is reported as vanished (exit 24), never committed.
//
// Receiver: N threads accept whatever arrives, write each file into a temp file beside its
// target and rename it into place only when the hash of the written bytes equals FileEnd's.
// Every frame is checked against the plan: only files the plan asked for, each once, never
// longer than announced.
//
// A stream ends with Done; Done with payload "rotate" means "continue on a new connection"
// (keys are replaced long before AES-GCM's usage limit). `StreamOpener` yields the next
// connection (connect on the client, accept on the server).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "apply/apply_plan.h"
#include "apply/dest_tree.h"
#include "store/hash_store.h"
#include "transfer/rate_limiter.h"
#include "transfer/stream.h"
#include "util/problems.h"
#include "util/transfer_meter.h"

namespace ktsync {

using StreamOpener = std::function<std::unique_ptr<ByteStream>(int stream_no)>;

// Bytes of file data after which a sender rotates its connection. AES-128-GCM may protect
// at most 2^24.5 full records (~380 GiB of 16 KiB records) under one key.
inline constexpr uint64_t kDefaultRotateBytes = 256ull << 30;

struct SendItem {
  int64_t wire_index;   // the index the receiver knows the file by
  const Entry* entry;   // in the sender's manifest
};

struct SentFile {
  const Entry* entry;
  Hash128 hash;
  CacheKey key;  // the file as it was read, for the sender's hash cache
};

// Called for each file as it is sent or committed, from the stream threads but one call at a
// time: the caller records hashes as files go, so nothing per file piles up in memory.
using OnFileSent = std::function<void(const SentFile&)>;

struct DataSendOptions {
  int src_root_fd = -1;
  OnFileSent on_sent;  // optional
  uint64_t rotate_after_bytes = kDefaultRotateBytes;
  RateLimiter* limiter = nullptr;
  TransferMeter* meter = nullptr;  // live progress, optional
};

struct DataSendResult {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t wire_bytes = 0;
};

// Runs one sender thread per stream until `items` are all sent; ends each stream with Done.
DataSendResult SendFiles(std::vector<std::unique_ptr<ByteStream>> streams, const StreamOpener& reopen,
                         const std::vector<SendItem>& items, const DataSendOptions& opts, Problems& problems);

struct ReceivedFile {
  int64_t src_index;
  Hash128 hash;
  FinalInfo info;
};

using OnFileReceived = std::function<void(const ReceivedFile&)>;  // as OnFileSent

struct DataReceiveOptions {
  ApplyOptions apply;
  OnFileReceived on_received;           // optional
  const Manifest* src = nullptr;        // entries the plan sends, indexed by wire index
  std::vector<int64_t> expected;        // wire indices of every SendFile action
  TransferMeter* meter = nullptr;       // live progress, optional
};

struct DataReceiveResult {
  uint64_t wire_bytes = 0;
  // Expected files the sender ended with the discard flag or never sent. The sender reports
  // why; the receiver must still not delete anything when this is not 0 (no
  // --delete-on-error), and a sender that reports nothing is lying.
  uint64_t skipped_by_sender = 0;
};

// Runs one receiver thread per stream until each stream's final Done. Throws the first
// run-ending error (peer gone, protocol violation) after all threads stopped; temp files
// of unfinished files are removed before it returns or throws.
DataReceiveResult ReceiveFiles(std::vector<std::unique_ptr<ByteStream>> streams, const StreamOpener& reopen,
                               const DestTree& tree, const DataReceiveOptions& opts, ApplyCounters& counters,
                               Problems& problems);

}  // namespace ktsync
