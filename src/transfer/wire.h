// The wire codec: frames and the messages inside them. Pure functions over bytes; no I/O.
//
// A frame is a 5-byte header, type (u8) + payload length (u32 LE), then the payload. The
// payload cap (kMaxFramePayload) is checked on the header, before any buffer grows.
//
// Every Decode* treats its input as hostile: lengths and counts are capped, enums and
// ranges are validated, paths must be safe relative paths in manifest order, and any
// violation throws Error(ExitCode::StreamData, "protocol error: ..."). Encode* append to
// `out`; the batch encoders take as many items from the front as fit one frame and return
// how many they took (at least one when the input is not empty).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "manifest/entry.h"
#include "manifest/file_list.h"
#include "manifest/plan.h"
#include "util/error.h"
#include "util/hash.h"

namespace ktsync {

enum class FrameType : uint8_t {
  Hello = 1,
  Request = 2,        // payload defined by the session layer
  ManifestBatch = 3,  // entry batch
  ManifestEnd = 4,    // entry count
  HashRequest = 5,    // index list
  HashReply = 6,
  // 7 and 8 carried a client's plan in protocol v2; the destination plans since v3.
  SendList = 9,       // index list
  FileBegin = 10,
  FileData = 11,      // raw file bytes
  FileEnd = 12,
  Result = 13,        // stats map
  Error = 14,
  Done = 15,          // empty
  DataHello = 16,
  Ready = 17,         // server -> client after Request: data port, host, session token
  Report = 18,        // a per-entry problem or note, before Result
  Credit = 19,        // destination -> source: which entries it may forget and send
  Item = 20,          // push server -> client: one change made (for -i, --json)
  FileHole = 21,      // within a file: this many bytes of zeros that occupy no disk (u64)
  DataRoute = 22,     // ssh mode, client -> server after Ready: how data travels (u8)
  FileDataZ = 23,     // file bytes compressed with zstd (-z): u32 raw length + one zstd frame
  Keepalive = 24,     // control, either way, empty: "still here" while a side is busy (FrameReader skips it)
  FileList = 25,      // pull with --files-from, client -> server after Request: listed paths
  FileListEnd = 26,   // the list's path count
};

const char* FrameTypeName(FrameType t);

inline constexpr size_t kFrameHeaderBytes = 5;
inline constexpr uint32_t kMaxFramePayload = 4u << 20;

struct FrameHeader {
  FrameType type;
  uint32_t length;
};

// `length` above kMaxFramePayload is an internal error (throws).
void EncodeFrameHeader(FrameType type, size_t length, unsigned char out[kFrameHeaderBytes]);
// Rejects unknown types and lengths above kMaxFramePayload.
FrameHeader DecodeFrameHeader(const unsigned char in[kFrameHeaderBytes]);
// Empty-payload frames (Done): anything else is a protocol error.
void ExpectEmptyPayload(FrameType type, std::string_view payload);

// ---- Hello ---------------------------------------------------------------------------

inline constexpr std::array<char, 8> kHelloMagic = {'K', 'T', 'S', 'Y', 'N', 'C', '\0', '\1'};
// 2: Ready says whether a sending server uses kTLS. 3: streams; the destination plans.
// 4: entries carry extended attributes and ACLs. 5: a file may be resent (kFileEndRetry) and
// restated (FileBegin.restated_mtime). 6: data may travel inside ssh (DataRoute) and
// compressed (FileDataZ). 7: Keepalive (a daemon drops sessions silent for --idle-timeout).
// 8: rsync's filter rules whole, transfer rules, --chmod, --chown and --safe-links in the Request.
// 9: --files-from: the Entry flag Partial, and a pull's list after the Request (FileList);
// Credit's send_bytes_below (manifest credit in bytes as well as entries); an Item carries
// its entry's mtime (--out-format's %M); -L (CopyLinks) in the Request.
inline constexpr uint16_t kProtocolVersion = 9;
inline constexpr uint16_t kMinProtocolVersion = 9;  // oldest version this build still speaks

struct Hello {
  uint16_t version = kProtocolVersion;
  uint64_t features = 0;  // bit set; unknown bits are ignored by Negotiate
  bool operator==(const Hello&) const = default;
};

struct Agreement {
  uint16_t version;
  uint64_t features;  // the features both sides offered
};

void EncodeHello(const Hello& h, std::string& out);
Hello DecodeHello(std::string_view payload);  // bad magic: "peer is not ktsync"
// Agrees on min(local, remote) version and the common features, or throws
// Error(ExitCode::Protocol, "peer speaks protocol vN, this ktsync speaks vM; ...").
Agreement Negotiate(const Hello& local, const Hello& remote);

// ---- Manifest entries ----------------------------------------------------------------

inline constexpr uint32_t kMaxBatchEntries = 65536;
inline constexpr size_t kMaxPathBytes = 4096;  // Linux PATH_MAX
inline constexpr size_t kMaxNameBytes = 255;   // Linux NAME_MAX, per component
inline constexpr size_t kMaxLinkTargetBytes = 4096;

// Why `e` cannot be sent ("" when it can): path or a component too long, symlink target
// empty or too long, mode beyond 07777. The sender records a Problem and skips the entry
// (with its subtree); EncodeEntryBatch throws Error(ExitCode::FileIo) on such an entry.
std::string WireEntryProblem(const Entry& e);

// Local identity (dev, ino, ctime) is never sent. size is sent as 0 for non-files,
// link_target only for symlinks, rdev only for devices, nlink only for regular files that
// have more than one link, link_leader only for hard-link followers.
size_t EncodeEntryBatch(std::span<const Entry> entries, std::string& out);

// An entry's bytes inside a ManifestBatch: what the byte credit (Credit) counts. A sendable
// entry's is never more than kMaxEncodedEntryBytes (4 KiB path and target, 64 KiB of
// attributes with 1024 names' framing, every optional field), so a byte window of at least
// that always lets one more entry through.
size_t EncodedEntryBytes(const Entry& e);
inline constexpr int64_t kMaxEncodedEntryBytes = 96 * 1024;

// Decodes a manifest stream batch by batch, holding only the previous entry: the first
// entry must be the root (""), each later path must sort after the previous one and have a
// directory received before it as its parent (which, entries being sorted, is the previous
// entry or one of its ancestors), and link_leader must be -1 or an earlier ordinal. Whether
// a leader really is a multi-link file is the planner's check (it remembers those).
class ManifestDecoder {
 public:
  // Replaces `out` with the batch's entries; out.first is the ordinal of the first.
  void Decode(std::string_view payload, EntryBatch& out);
  int64_t count() const { return count_; }  // entries decoded so far

 private:
  int64_t count_ = 0;
  std::string prev_path_;
  bool prev_dir_ = false;
};

// ManifestEnd: how many entries the stream held (the receiver compares its own count).
void EncodeManifestEnd(const int64_t& count, std::string& out);
int64_t DecodeManifestEnd(std::string_view payload);

// ---- Index lists (HashRequest, SendList) and hash replies ------------------------------

inline constexpr uint32_t kMaxBatchIndices = 262144;  // 2 MiB of u64

size_t EncodeIndexList(std::span<const int64_t> indices, std::string& out);
// Appends; each index must be >= 0 (the receiver checks it against what it listed).
void DecodeIndexList(std::string_view payload, std::vector<int64_t>& out);

struct HashReplyItem {
  int64_t index = -1;
  std::optional<Hash128> hash;  // none: the peer could not hash it (unreadable, vanished)
  bool operator==(const HashReplyItem&) const = default;
};

size_t EncodeHashReply(std::span<const HashReplyItem> items, std::string& out);
void DecodeHashReply(std::string_view payload, std::vector<HashReplyItem>& out);

// ---- --files-from (pull) -------------------------------------------------------------

// A pull's client reads the list (file_list.h) and sends it, sorted and merged, right after
// a Request with the FileList flag: FileList frames, then FileListEnd. The server reads
// nothing else meanwhile, and holds at most kMaxListedPaths paths, kMaxListBytes in all (a
// daemon kMaxDaemonListedPaths, kMaxDaemonListBytes).
inline constexpr uint32_t kMaxFileListBatch = 65536;

size_t EncodeFileListBatch(std::span<const ListedPath> paths, std::string& out);
void EncodeFileListEnd(uint64_t count, std::string& out);

// Checks the list as it arrives: every path safe (the root "" only first), strictly
// increasing bytewise (so it is sorted and has no duplicates), within the bounds above.
class FileListDecoder {
 public:
  // `who` names the holder in the error a list beyond the caps gets ("this ktsync daemon").
  explicit FileListDecoder(size_t max_paths = kMaxListedPaths, size_t max_bytes = kMaxListBytes,
                           std::string who = "the server")
      : max_paths_(max_paths), max_bytes_(max_bytes), who_(std::move(who)) {}
  // Appends the batch's paths to `out`. A list beyond the caps is refused with exit 1 (the
  // client may split it), not as a protocol error.
  void Decode(std::string_view payload, std::vector<ListedPath>& out);
  // FileListEnd: the count must be the number of paths received.
  void End(std::string_view payload) const;

 private:
  [[noreturn]] void TooLong() const;

  size_t max_paths_;
  size_t max_bytes_;
  std::string who_;
  uint64_t count_ = 0;
  uint64_t bytes_ = 0;
  std::string prev_;
};

// ---- Credit, Item --------------------------------------------------------------------

// Before the first Credit, a source may send this many entries, and entries of this many
// encoded bytes in all (EncodedEntryBytes): a count alone let a peer make the other end hold
// 32768 entries of up to 80 KiB each.
inline constexpr int64_t kInitialCredit = 32768;
inline constexpr int64_t kInitialByteCredit = 8 << 20;
static_assert(kInitialByteCredit >= kMaxEncodedEntryBytes, "the first credit must let any one entry through");

// The destination's flow control: entries below `release_below` will never be asked about
// again (the source forgets them); the source may send entries below `send_below` whose
// encoded bytes, counted from the first entry of the stream, end at most at `send_bytes_below`.
struct Credit {
  int64_t release_below = 0;
  int64_t send_below = 0;
  int64_t send_bytes_below = 0;
  bool operator==(const Credit&) const = default;
};
void EncodeCredit(const Credit& c, std::string& out);
Credit DecodeCredit(std::string_view payload);  // 0 <= release_below <= send_below, 0 <= send_bytes_below

void EncodeItem(const ItemView& v, std::string& out);
// Kind, type and change bits must be known; the strings are bounded like an entry's.
ItemView DecodeItem(std::string_view payload);

// ---- File transfer -------------------------------------------------------------------

// A source file changes between its listing and its reading (apply/source_read.h): it is
// sent as read, `size` and `restated_mtime` saying what it was then. Without a
// restatement, `size` is the listed size.
struct FileBegin {
  FileBegin() = default;
  FileBegin(int64_t i, uint64_t s, std::optional<Timestamp> restated = std::nullopt)
      : index(i), size(s), restated_mtime(restated) {}
  int64_t index = 0;  // into the source manifest
  uint64_t size = 0;
  std::optional<Timestamp> restated_mtime;
  bool operator==(const FileBegin&) const = default;
};
void EncodeFileBegin(const FileBegin& m, std::string& out);
FileBegin DecodeFileBegin(std::string_view payload);  // index >= 0; the receiver checks it was asked for

// The source changed while it was read, or could not be read at all: the receiver drops
// what it got (DST keeps its old content) and the sender reports why.
inline constexpr uint8_t kFileEndDiscard = 1;
// The file changed while it was read: drop this attempt; the same file's FileBegin follows
// at once on this stream (at most kMaxReadAttempts attempts in all).
inline constexpr uint8_t kFileEndRetry = 2;

struct FileEnd {
  Hash128 hash;        // XXH3-128 of the bytes sent
  uint8_t flags = 0;   // kFileEnd* bits; unknown bits are a protocol error
  bool operator==(const FileEnd&) const = default;
};
void EncodeFileEnd(const FileEnd& m, std::string& out);
FileEnd DecodeFileEnd(std::string_view payload);

// A hole of a sparse file: `length` (> 0) zero bytes the receiver skips over, so they stay
// a hole in DST; they count in the file's size and hash like any other bytes.
void EncodeFileHole(uint64_t length, std::string& out);
uint64_t DecodeFileHole(std::string_view payload);

// ---- Error, DataHello, Result --------------------------------------------------------

inline constexpr size_t kMaxErrorMessageBytes = 4096;

struct ErrorMessage {
  ExitCode code = ExitCode::StreamData;  // 1..255
  std::string message;
  bool operator==(const ErrorMessage&) const = default;
};
void EncodeError(const ErrorMessage& m, std::string& out);  // message truncated to the cap
// Control bytes in the message become '?': it is printed on the user's terminal, and a
// hostile peer must not be able to send escape sequences to it.
ErrorMessage DecodeError(std::string_view payload);

using SessionToken = std::array<uint8_t, 16>;

// A DataHello with this stream number opens the daemon session's second control
// connection (server -> client): a TLS stream is used by one thread at a time, and both
// directions of the control channel flow at once.
inline constexpr uint32_t kReverseControlStream = 0xffffffff;

struct DataHello {
  SessionToken token{};
  uint32_t stream = 0;
  bool operator==(const DataHello&) const = default;
};
void EncodeDataHello(const DataHello& m, std::string& out);
DataHello DecodeDataHello(std::string_view payload);

inline constexpr uint32_t kMaxStats = 256;
inline constexpr size_t kMaxStatKeyBytes = 64;

using Stats = std::map<std::string, uint64_t, std::less<>>;
void EncodeStats(const Stats& s, std::string& out);
Stats DecodeStats(std::string_view payload);  // keys non-empty, unique, <= 64 bytes

}  // namespace ktsync
