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
#include <vector>

#include "manifest/entry.h"
#include "manifest/plan.h"
#include "util/error.h"
#include "util/hash.h"

namespace ktsync {

enum class FrameType : uint8_t {
  Hello = 1,
  Request = 2,        // payload defined by the session layer
  ManifestBatch = 3,  // entry batch
  ManifestEnd = 4,    // empty
  HashRequest = 5,    // index list
  HashReply = 6,
  PlanBatch = 7,
  PlanEnd = 8,        // empty
  SendList = 9,       // index list
  FileBegin = 10,
  FileData = 11,      // raw file bytes
  FileEnd = 12,
  Result = 13,        // stats map
  Error = 14,
  Done = 15,          // empty
  DataHello = 16,
  Ready = 17,         // server -> client after Request: data port, host, session token
  Report = 18,        // server -> client before Result: one per-entry problem or note
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
// Empty-payload frames (ManifestEnd, PlanEnd, Done): anything else is a protocol error.
void ExpectEmptyPayload(FrameType type, std::string_view payload);

// ---- Hello ---------------------------------------------------------------------------

inline constexpr std::array<char, 8> kHelloMagic = {'K', 'T', 'S', 'Y', 'N', 'C', '\0', '\1'};
inline constexpr uint16_t kProtocolVersion = 2;  // 2: Ready says whether a sending server uses kTLS
inline constexpr uint16_t kMinProtocolVersion = 2;  // oldest version this build still speaks

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

// Local identity (dev, ino, nlink, ctime) is never sent. size is sent as 0 for non-files,
// link_target only for symlinks, rdev only for devices.
size_t EncodeEntryBatch(std::span<const Entry> entries, std::string& out);
// Appends to `manifest`, which holds every entry received so far (so the position of each
// new entry is its index): the first entry must be the root (""), each later path must sort
// after the previous one and have a directory already received as its parent, and
// link_leader must be -1 or an earlier regular file. After an error `manifest` may hold part
// of the batch (the run ends anyway).
void DecodeEntryBatch(std::string_view payload, Manifest& manifest);

// ---- Index lists (HashRequest, SendList) and hash replies ------------------------------

inline constexpr uint32_t kMaxBatchIndices = 262144;  // 2 MiB of u64

size_t EncodeIndexList(std::span<const int64_t> indices, std::string& out);
// Appends; each index must be < limit (the size of the manifest it points into).
void DecodeIndexList(std::string_view payload, uint64_t limit, std::vector<int64_t>& out);

struct HashReplyItem {
  int64_t index = -1;
  std::optional<Hash128> hash;  // none: the peer could not hash it (unreadable, vanished)
  bool operator==(const HashReplyItem&) const = default;
};

size_t EncodeHashReply(std::span<const HashReplyItem> items, std::string& out);
void DecodeHashReply(std::string_view payload, uint64_t limit, std::vector<HashReplyItem>& out);

// ---- Plan ----------------------------------------------------------------------------

inline constexpr uint32_t kMaxBatchActions = 131072;

size_t EncodePlanBatch(std::span<const Action> actions, std::string& out);
// Appends; kind must be known, src/dst -1 or within the manifests, present where the kind
// needs it, and changes only known ChangeBits.
void DecodePlanBatch(std::string_view payload, uint64_t src_count, uint64_t dst_count, std::vector<Action>& out);

// ---- File transfer -------------------------------------------------------------------

struct FileBegin {
  int64_t index = 0;  // into the source manifest
  uint64_t size = 0;
  bool operator==(const FileBegin&) const = default;
};
void EncodeFileBegin(const FileBegin& m, std::string& out);
FileBegin DecodeFileBegin(std::string_view payload, uint64_t limit);

// The source changed while it was read: the receiver drops what it got (DST keeps its old
// content) and the sender reports the file as vanished.
inline constexpr uint8_t kFileEndDiscard = 1;

struct FileEnd {
  Hash128 hash;        // XXH3-128 of the bytes sent
  uint8_t flags = 0;   // kFileEnd* bits; unknown bits are a protocol error
  bool operator==(const FileEnd&) const = default;
};
void EncodeFileEnd(const FileEnd& m, std::string& out);
FileEnd DecodeFileEnd(std::string_view payload);

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
