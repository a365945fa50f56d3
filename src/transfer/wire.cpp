#include "transfer/wire.h"

#include <algorithm>
#include <cstring>

#include "transfer/byte_io.h"

namespace ktsync {

namespace {

// A peer-supplied string made safe to quote in an error message.
std::string Quoted(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "\"";
}

void PutHash(ByteWriter& w, const Hash128& h) {
  w.U64(h.lo);
  w.U64(h.hi);
}

Hash128 GetHash(ByteReader& r) {
  Hash128 h;
  h.lo = r.U64("hash");
  h.hi = r.U64("hash");
  return h;
}

void PutTimestamp(ByteWriter& w, const Timestamp& t) {
  w.I64(t.sec);
  w.U32(t.nsec);
}

Timestamp GetTimestamp(ByteReader& r, const std::string& of) {
  Timestamp t;
  t.sec = r.I64("mtime");
  t.nsec = r.U32("mtime nanoseconds");
  if (t.nsec > 999'999'999) r.Fail("mtime nanoseconds " + std::to_string(t.nsec) + " of " + of);
  return t;
}

std::optional<Hash128> GetOptionalHash(ByteReader& r) {
  uint8_t flag = r.U8("hash flag");
  if (flag > 1) r.Fail("hash flag " + std::to_string(flag) + " is neither 0 nor 1");
  if (flag == 0) return std::nullopt;
  return GetHash(r);
}

bool IsDevice(EntryType t) { return t == EntryType::CharDev || t == EntryType::BlockDev; }

// Fixed part of an encoded entry: path len, type, mode, uid, gid, size, mtime (s, ns), flags.
constexpr size_t kEntryFixedBytes = 2 + 1 + 4 + 4 + 4 + 8 + 8 + 4 + 1;

// Entry flag bits.
enum : uint8_t {
  kEntryHash = 1,          // a content hash follows
  kEntrySkipped = 2,       // contents_skipped (directories only)
  kEntryMultiLink = 4,     // a regular file with more links: nlink u32 follows
  kEntryFollower = 8,      // a hard-link follower: link_leader i64 follows
  kEntryXattrs = 16,       // extended attributes follow: u32 count, (str8 name, u32 len, value)*
  kEntryPartial = 32,      // contents_partial (directories only; not with kEntrySkipped)
  kEntryFlags = 63,
};

bool MultiLink(const Entry& e) { return e.IsFile() && e.nlink > 1 && e.link_leader < 0; }

}  // namespace

size_t EncodedEntryBytes(const Entry& e) {
  size_t n = kEntryFixedBytes + e.path.size();
  if (e.type == EntryType::Symlink) n += 2 + e.link_target().size();
  if (IsDevice(e.type)) n += 8;
  if (e.hash) n += 16;
  if (MultiLink(e)) n += 4;
  if (e.link_leader >= 0) n += 8;
  if (!e.xattrs().empty()) n += 4 + 5 * e.xattrs().size() + XattrBytes(e.xattrs());
  return n;
}

namespace {

void EncodeEntry(ByteWriter& w, const Entry& e) {
  w.Str16(e.path);
  w.U8(static_cast<uint8_t>(e.type));
  w.U32(e.mode);
  w.U32(e.uid);
  w.U32(e.gid);
  w.U64(e.IsFile() ? e.size : 0);
  PutTimestamp(w, e.mtime);
  if (e.type == EntryType::Symlink) w.Str16(e.link_target());
  if (IsDevice(e.type)) w.U64(e.rdev());
  w.U8((e.hash ? kEntryHash : 0) | (e.contents_skipped ? kEntrySkipped : 0) |
       (e.contents_partial ? kEntryPartial : 0) | (MultiLink(e) ? kEntryMultiLink : 0) |
       (e.link_leader >= 0 ? kEntryFollower : 0) | (e.xattrs().empty() ? 0 : kEntryXattrs));
  if (e.hash) PutHash(w, *e.hash);
  if (MultiLink(e)) w.U32(e.nlink);
  if (e.link_leader >= 0) w.I64(e.link_leader);
  if (!e.xattrs().empty()) {
    w.U32(static_cast<uint32_t>(e.xattrs().size()));
    for (const Xattr& x : e.xattrs()) {
      w.Str8(x.name);
      w.U32(static_cast<uint32_t>(x.value.size()));
      w.Raw(x.value.data(), x.value.size());
    }
  }
}

// Bounded as a scan bounds them (xattrs.h): a peer's entry holds no more.
Xattrs DecodeXattrs(ByteReader& r, const std::string& path) {
  uint32_t n = r.Count(kMaxXattrCount, 6, "extended attribute count");
  if (n == 0) r.Fail("empty extended attribute list for " + Quoted(path));
  Xattrs xs;
  xs.reserve(n);
  size_t bytes = 0;
  for (uint32_t i = 0; i < n; ++i) {
    Xattr x;
    x.name = r.Str8(kMaxXattrNameBytes, "extended attribute name");
    uint32_t len = r.U32("extended attribute length");
    if (len > kMaxXattrValueBytes || (bytes += x.name.size() + len) > kMaxXattrBytes)
      r.Fail("extended attributes of " + Quoted(path) + " exceed the limits");
    x.value = r.Raw(len, "extended attribute value");
    xs.push_back(std::move(x));
  }
  if (std::string why = XattrsProblem(xs); !why.empty()) r.Fail(why + " for " + Quoted(path));
  return xs;
}

// The path rules that a peer must never get around: safe, and within Linux's limits.
std::string PathProblem(std::string_view path) {
  if (path.size() > kMaxPathBytes) {
    return "path is " + std::to_string(path.size()) + " bytes, the protocol limit is " + std::to_string(kMaxPathBytes);
  }
  if (!IsSafeRelativePath(path)) return "unsafe path " + Quoted(path);
  size_t start = 0;
  while (start < path.size()) {
    size_t end = std::min(path.find('/', start), path.size());
    if (end - start > kMaxNameBytes) {
      return "a path component is " + std::to_string(end - start) + " bytes, the limit is " +
             std::to_string(kMaxNameBytes);
    }
    start = end + 1;
  }
  return "";
}

std::string TargetProblem(std::string_view target) {
  if (target.empty()) return "empty symlink target";
  if (target.size() > kMaxLinkTargetBytes) {
    return "symlink target is " + std::to_string(target.size()) + " bytes, the limit is " +
           std::to_string(kMaxLinkTargetBytes);
  }
  if (target.find('\0') != std::string_view::npos) return "symlink target contains a NUL byte";
  return "";
}

Entry DecodeEntry(ByteReader& r) {
  Entry e;
  e.path = r.Str16(kMaxPathBytes, "path");
  if (std::string why = PathProblem(e.path); !why.empty()) r.Fail(why);
  uint8_t type = r.U8("type");
  if (type < static_cast<uint8_t>(EntryType::File) || type > static_cast<uint8_t>(EntryType::BlockDev)) {
    r.Fail("unknown entry type " + std::to_string(type) + " for " + Quoted(e.path));
  }
  e.type = static_cast<EntryType>(type);
  e.mode = r.U32("mode");
  if (e.mode & ~07777u) r.Fail("mode " + std::to_string(e.mode) + " of " + Quoted(e.path) + " is beyond 07777");
  e.uid = r.U32("uid");
  e.gid = r.U32("gid");
  e.size = r.U64("size");
  if (!e.IsFile() && e.size != 0) r.Fail("non-file " + Quoted(e.path) + " has a size");
  e.mtime = GetTimestamp(r, Quoted(e.path));
  if (e.type == EntryType::Symlink) {
    e.set_link_target(std::string(r.Str16(kMaxLinkTargetBytes, "symlink target")));
    if (std::string why = TargetProblem(e.link_target()); !why.empty()) r.Fail(why + " for " + Quoted(e.path));
  }
  if (IsDevice(e.type)) e.set_rdev(r.U64("rdev"));
  uint8_t flags = r.U8("entry flags");
  if (flags & ~kEntryFlags) r.Fail("unknown entry flags " + std::to_string(flags) + " for " + Quoted(e.path));
  e.contents_skipped = flags & kEntrySkipped;
  if (e.contents_skipped && !e.IsDir()) r.Fail("non-directory " + Quoted(e.path) + " marked as not descended");
  e.contents_partial = flags & kEntryPartial;
  if (e.contents_partial && (!e.IsDir() || e.contents_skipped))
    r.Fail(Quoted(e.path) + " marked as partly taken: only a descended directory can be");
  if (flags & kEntryHash) e.hash = GetHash(r);
  if ((flags & (kEntryMultiLink | kEntryFollower)) && !e.IsFile()) r.Fail("non-file " + Quoted(e.path) + " has links");
  if ((flags & kEntryMultiLink) && (flags & kEntryFollower)) r.Fail(Quoted(e.path) + " both leads and follows a link");
  if (flags & kEntryMultiLink) {
    e.nlink = r.U32("link count");
    if (e.nlink < 2) r.Fail("multi-link file " + Quoted(e.path) + " with " + std::to_string(e.nlink) + " links");
  }
  if (flags & kEntryFollower) e.link_leader = r.I64("link leader");
  if (flags & kEntryXattrs) e.set_xattrs(DecodeXattrs(r, e.path));
  return e;
}

bool IsProperAncestor(std::string_view dir, std::string_view path) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

// Header of a capped batch: placeholder count, patched once the items are written.
template <typename T, typename Fn>
size_t EncodeBatch(std::span<const T> items, uint32_t cap, std::string& out, Fn size_of, auto put) {
  size_t start = out.size();
  ByteWriter w(out);
  w.U32(0);
  size_t n = 0;
  while (n < items.size() && n < cap && out.size() - start + size_of(items[n]) <= kMaxFramePayload) {
    put(w, items[n]);
    ++n;
  }
  w.PatchU32(start, static_cast<uint32_t>(n));
  return n;
}

}  // namespace

const char* FrameTypeName(FrameType t) {
  switch (t) {
    case FrameType::Hello: return "Hello";
    case FrameType::Request: return "Request";
    case FrameType::ManifestBatch: return "ManifestBatch";
    case FrameType::ManifestEnd: return "ManifestEnd";
    case FrameType::HashRequest: return "HashRequest";
    case FrameType::HashReply: return "HashReply";
    case FrameType::SendList: return "SendList";
    case FrameType::FileBegin: return "FileBegin";
    case FrameType::FileData: return "FileData";
    case FrameType::FileEnd: return "FileEnd";
    case FrameType::Result: return "Result";
    case FrameType::Error: return "Error";
    case FrameType::Done: return "Done";
    case FrameType::DataHello: return "DataHello";
    case FrameType::Ready: return "Ready";
    case FrameType::Report: return "Report";
    case FrameType::Credit: return "Credit";
    case FrameType::Item: return "Item";
    case FrameType::FileHole: return "FileHole";
    case FrameType::DataRoute: return "DataRoute";
    case FrameType::FileDataZ: return "FileDataZ";
    case FrameType::Keepalive: return "Keepalive";
    case FrameType::FileList: return "FileList";
    case FrameType::FileListEnd: return "FileListEnd";
  }
  return "unknown";
}

void EncodeFrameHeader(FrameType type, size_t length, unsigned char out[kFrameHeaderBytes]) {
  if (length > kMaxFramePayload) {
    ThrowProtocolError(std::string("cannot send a ") + FrameTypeName(type) + " frame of " + std::to_string(length) +
                       " bytes (limit " + std::to_string(kMaxFramePayload) + ")");
  }
  out[0] = static_cast<unsigned char>(type);
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<unsigned char>(length >> (8 * i));
}

FrameHeader DecodeFrameHeader(const unsigned char in[kFrameHeaderBytes]) {
  uint8_t type = in[0];
  uint32_t length = 0;
  for (int i = 3; i >= 0; --i) length = (length << 8) | in[1 + i];
  if (std::string_view(FrameTypeName(static_cast<FrameType>(type))) == "unknown") {
    std::string hint;
    if (std::all_of(in, in + kFrameHeaderBytes, [](unsigned char c) { return c >= 0x20 && c < 0x7f; })) {
      hint = " (got text " + Quoted(std::string_view(reinterpret_cast<const char*>(in), kFrameHeaderBytes)) +
             ": does the remote shell print something on startup?)";
    }
    ThrowProtocolError("unknown frame type " + std::to_string(type) + hint);
  }
  if (length > kMaxFramePayload) {
    ThrowProtocolError(std::string(FrameTypeName(static_cast<FrameType>(type))) + " frame of " + std::to_string(length) +
                       " bytes exceeds the " + std::to_string(kMaxFramePayload) + "-byte limit");
  }
  return {static_cast<FrameType>(type), length};
}

void ExpectEmptyPayload(FrameType type, std::string_view payload) {
  ByteReader(payload, FrameTypeName(type)).ExpectEnd();
}

void EncodeHello(const Hello& h, std::string& out) {
  ByteWriter w(out);
  w.Raw(kHelloMagic.data(), kHelloMagic.size());
  w.U16(h.version);
  w.U64(h.features);
}

Hello DecodeHello(std::string_view payload) {
  ByteReader r(payload, "Hello");
  if (r.Raw(kHelloMagic.size(), "magic") != std::string_view(kHelloMagic.data(), kHelloMagic.size())) {
    throw Error(ExitCode::StartProtocol,
                "peer did not greet as ktsync (bad magic): is ktsync installed there, and does the remote "
                "shell print nothing on startup?");
  }
  Hello h;
  h.version = r.U16("version");
  h.features = r.U64("features");
  r.ExpectEnd();
  if (h.version == 0) r.Fail("protocol version 0");
  return h;
}

Agreement Negotiate(const Hello& local, const Hello& remote) {
  uint16_t version = std::min(local.version, remote.version);
  if (version < kMinProtocolVersion) {
    throw Error(ExitCode::Protocol, "peer speaks protocol v" + std::to_string(remote.version) +
                                        ", this ktsync speaks v" + std::to_string(local.version) +
                                        "; install matching versions of ktsync on both hosts");
  }
  return {version, local.features & remote.features};
}

std::string WireEntryProblem(const Entry& e) {
  if (std::string why = PathProblem(e.path); !why.empty()) return why;
  if (e.type < EntryType::File || e.type > EntryType::BlockDev) return "unknown entry type";
  if (e.mode & ~07777u) return "mode is beyond 07777";
  if (e.type == EntryType::Symlink) {
    if (std::string why = TargetProblem(e.link_target()); !why.empty()) return why;
  }
  return XattrsProblem(e.xattrs());
}

size_t EncodeEntryBatch(std::span<const Entry> entries, std::string& out) {
  // Validated while sizing, i.e. before the entry is weighed against the frame cap.
  auto checked_size = [](const Entry& e) {
    if (std::string why = WireEntryProblem(e); !why.empty()) {
      throw Error(ExitCode::FileIo, "cannot send " + Quoted(e.path) + ": " + why);
    }
    return EncodedEntryBytes(e);
  };
  return EncodeBatch(entries, kMaxBatchEntries, out, checked_size, EncodeEntry);
}

// Entries arrive sorted and each one's parent was checked, so the parent of a new entry was
// received iff it is the previous entry or one of that entry's ancestors: no lookup needed.
void ManifestDecoder::Decode(std::string_view payload, EntryBatch& out) {
  ByteReader r(payload, "ManifestBatch");
  uint32_t n = r.Count(kMaxBatchEntries, kEntryFixedBytes, "entry count");
  out.first = count_;
  out.entries.clear();
  out.entries.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    Entry e = DecodeEntry(r);
    if (count_ == 0) {
      if (!e.path.empty() || !e.IsDir()) r.Fail("first entry " + Quoted(e.path) + " is not the root directory");
    } else {
      if (ComparePaths(prev_path_, e.path) >= 0) {
        r.Fail("entry " + Quoted(e.path) + " is out of order or duplicated (after " + Quoted(prev_path_) + ")");
      }
      std::string_view parent = ParentPath(e.path);
      if (parent == prev_path_ ? !prev_dir_ : !IsProperAncestor(parent, prev_path_)) {
        r.Fail("parent of " + Quoted(e.path) + " is not a directory received before it");
      }
    }
    if (e.link_leader != -1 && (e.link_leader < 0 || e.link_leader >= count_)) {
      r.Fail("hard-link leader " + std::to_string(e.link_leader) + " of entry " + std::to_string(count_) + " is invalid");
    }
    prev_path_ = e.path;
    prev_dir_ = e.IsDir();
    ++count_;
    out.entries.push_back(std::move(e));
  }
  r.ExpectEnd();
}

// A FileList path's flag bits.
enum ListedFlag : uint8_t {
  kListedContents = 1,  // ListedPath::contents
  kListedFlags = 1,
};

size_t EncodeFileListBatch(std::span<const ListedPath> paths, std::string& out) {
  return EncodeBatch(paths, kMaxFileListBatch, out, [](const ListedPath& p) { return 3 + p.path.size(); },
                     [](ByteWriter& w, const ListedPath& p) {
                       w.U8(p.contents ? kListedContents : 0);
                       w.Str16(p.path);
                     });
}

void EncodeFileListEnd(uint64_t count, std::string& out) { ByteWriter(out).U64(count); }

void FileListDecoder::Decode(std::string_view payload, std::vector<ListedPath>& out) {
  ByteReader r(payload, "FileList");
  uint32_t n = r.Count(kMaxFileListBatch, 3, "path count");
  if (n == 0) r.Fail("empty batch");
  if (count_ + n > max_paths_) TooLong();
  for (uint32_t i = 0; i < n; ++i) {
    ListedPath p;
    uint8_t flags = r.U8("path flags");
    if (flags & ~kListedFlags) r.Fail("unknown path flags " + std::to_string(flags));
    p.contents = flags & kListedContents;
    p.path = r.Str16(kMaxPathBytes, "path");
    if (count_ > 0 || !p.path.empty()) {  // the root may come first
      if (std::string why = PathProblem(p.path); !why.empty()) r.Fail(why);
      if (count_ > 0 && !(prev_ < p.path)) r.Fail("path " + Quoted(p.path) + " is out of order or repeated");
    }
    if ((bytes_ += p.path.size()) > max_bytes_) TooLong();
    prev_ = p.path;
    ++count_;
    out.push_back(std::move(p));
  }
  r.ExpectEnd();
}

void FileListDecoder::TooLong() const {
  throw Error(ExitCode::Usage, "the --files-from list is too long for " + who_ + ", which takes at most " +
                                   std::to_string(max_paths_) + " paths, " + std::to_string(max_bytes_ >> 20) +
                                   " MiB of them: split it into several runs");
}

void FileListDecoder::End(std::string_view payload) const {
  ByteReader r(payload, "FileListEnd");
  uint64_t n = r.U64("count");
  r.ExpectEnd();
  if (n != count_) r.Fail("says " + std::to_string(n) + " paths, " + std::to_string(count_) + " came");
}

size_t EncodeIndexList(std::span<const int64_t> indices, std::string& out) {
  return EncodeBatch(indices, kMaxBatchIndices, out, [](int64_t) { return size_t{8}; },
                     [](ByteWriter& w, int64_t v) { w.I64(v); });
}

void DecodeIndexList(std::string_view payload, std::vector<int64_t>& out) {
  ByteReader r(payload, "index list");
  uint32_t n = r.Count(kMaxBatchIndices, 8, "index count");
  out.reserve(out.size() + n);
  for (uint32_t i = 0; i < n; ++i) {
    int64_t v = r.I64("index");
    if (v < 0) r.Fail("negative index " + std::to_string(v));
    out.push_back(v);
  }
  r.ExpectEnd();
}

size_t EncodeHashReply(std::span<const HashReplyItem> items, std::string& out) {
  return EncodeBatch(items, kMaxBatchIndices, out, [](const HashReplyItem&) { return size_t{8 + 1 + 16}; },
                     [](ByteWriter& w, const HashReplyItem& it) {
                       w.I64(it.index);
                       w.U8(it.hash ? 1 : 0);
                       if (it.hash) PutHash(w, *it.hash);
                     });
}

void DecodeHashReply(std::string_view payload, std::vector<HashReplyItem>& out) {
  ByteReader r(payload, "HashReply");
  uint32_t n = r.Count(kMaxBatchIndices, 8 + 1, "hash count");
  for (uint32_t i = 0; i < n; ++i) {
    HashReplyItem it;
    it.index = r.I64("index");
    if (it.index < 0) r.Fail("negative index " + std::to_string(it.index));
    it.hash = GetOptionalHash(r);
    out.push_back(it);
  }
  r.ExpectEnd();
}

void EncodeManifestEnd(const int64_t& count, std::string& out) { ByteWriter(out).I64(count); }

int64_t DecodeManifestEnd(std::string_view payload) {
  ByteReader r(payload, "ManifestEnd");
  int64_t count = r.I64("count");
  r.ExpectEnd();
  return count;
}

void EncodeCredit(const Credit& c, std::string& out) {
  ByteWriter w(out);
  w.I64(c.release_below);
  w.I64(c.send_below);
  w.I64(c.send_bytes_below);
}

Credit DecodeCredit(std::string_view payload) {
  ByteReader r(payload, "Credit");
  Credit c;
  c.release_below = r.I64("release");
  c.send_below = r.I64("send");
  c.send_bytes_below = r.I64("send bytes");
  r.ExpectEnd();
  if (c.release_below < 0 || c.send_below < c.release_below) r.Fail("credit range is inverted");
  if (c.send_bytes_below < 0) r.Fail("negative byte credit");
  return c;
}

void EncodeItem(const ItemView& v, std::string& out) {
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(v.kind));
  w.U16(v.changes);
  w.U8(static_cast<uint8_t>(v.type));
  w.U64(v.size);
  w.I64(v.mtime);
  w.Str16(v.path);
  w.Str16(v.target);
  w.Str16(v.leader);
}

ItemView DecodeItem(std::string_view payload) {
  ByteReader r(payload, "Item");
  ItemView v;
  uint8_t kind = r.U8("kind");
  if (kind < static_cast<uint8_t>(ActionKind::RemoveForType) || kind > static_cast<uint8_t>(ActionKind::DirMeta)) {
    r.Fail("unknown action kind " + std::to_string(kind));
  }
  v.kind = static_cast<ActionKind>(kind);
  v.changes = r.U16("changes");
  if (v.changes & ~kAllChangeBits) r.Fail("unknown change bits " + std::to_string(v.changes));
  uint8_t type = r.U8("type");
  if (type < static_cast<uint8_t>(EntryType::File) || type > static_cast<uint8_t>(EntryType::BlockDev)) {
    r.Fail("unknown entry type " + std::to_string(type));
  }
  v.type = static_cast<EntryType>(type);
  v.size = r.U64("size");
  v.mtime = r.I64("mtime");
  if (IsDeletion(v.kind) && v.mtime != 0) r.Fail("an mtime for a deletion");
  v.path = r.Str16(kMaxPathBytes, "path");
  if (std::string why = PathProblem(v.path); !why.empty()) r.Fail(why);
  v.target = r.Str16(kMaxLinkTargetBytes, "target");
  if (!v.target.empty()) {  // only a symlink that is not deleted has one (ViewOf)
    if (v.type != EntryType::Symlink || IsDeletion(v.kind)) r.Fail("a target for an item that is no symlink made");
    if (std::string why = TargetProblem(v.target); !why.empty()) r.Fail(why);
  }
  v.leader = r.Str16(kMaxPathBytes, "leader");
  if (!v.leader.empty()) {
    if (std::string why = PathProblem(v.leader); !why.empty()) r.Fail(why);
  }
  r.ExpectEnd();
  return v;
}

void EncodeFileBegin(const FileBegin& m, std::string& out) {
  ByteWriter w(out);
  w.I64(m.index);
  w.U64(m.size);
  w.U8(m.restated_mtime ? 1 : 0);
  if (m.restated_mtime) PutTimestamp(w, *m.restated_mtime);
}

void EncodeFileHole(uint64_t length, std::string& out) { ByteWriter(out).U64(length); }

uint64_t DecodeFileHole(std::string_view payload) {
  ByteReader r(payload, "FileHole");
  uint64_t length = r.U64("length");
  if (length == 0) r.Fail("empty hole");
  r.ExpectEnd();
  return length;
}

FileBegin DecodeFileBegin(std::string_view payload) {
  ByteReader r(payload, "FileBegin");
  FileBegin m;
  m.index = r.I64("index");
  if (m.index < 0) r.Fail("negative file index " + std::to_string(m.index));
  m.size = r.U64("size");
  uint8_t restated = r.U8("restated flag");
  if (restated > 1) r.Fail("restated flag " + std::to_string(restated) + " is neither 0 nor 1");
  if (restated) m.restated_mtime = GetTimestamp(r, "file #" + std::to_string(m.index));
  r.ExpectEnd();
  return m;
}

void EncodeFileEnd(const FileEnd& m, std::string& out) {
  ByteWriter w(out);
  PutHash(w, m.hash);
  w.U8(m.flags);
}

FileEnd DecodeFileEnd(std::string_view payload) {
  ByteReader r(payload, "FileEnd");
  FileEnd m;
  m.hash = GetHash(r);
  m.flags = r.U8("flags");
  if (m.flags & ~(kFileEndDiscard | kFileEndRetry)) r.Fail("unknown flags " + std::to_string(m.flags));
  if (m.flags == (kFileEndDiscard | kFileEndRetry)) r.Fail("a file cannot be both discarded and retried");
  r.ExpectEnd();
  return m;
}

void EncodeError(const ErrorMessage& m, std::string& out) {
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(m.code));
  w.Str16(std::string_view(m.message).substr(0, kMaxErrorMessageBytes));
}

ErrorMessage DecodeError(std::string_view payload) {
  ByteReader r(payload, "Error");
  ErrorMessage m;
  uint8_t code = r.U8("code");
  if (code == 0) r.Fail("error frame with exit code 0");
  m.code = static_cast<ExitCode>(code);
  m.message = r.Str16(kMaxErrorMessageBytes, "message");
  r.ExpectEnd();
  for (char& c : m.message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return m;
}

void EncodeDataHello(const DataHello& m, std::string& out) {
  ByteWriter w(out);
  w.Raw(m.token.data(), m.token.size());
  w.U32(m.stream);
}

DataHello DecodeDataHello(std::string_view payload) {
  ByteReader r(payload, "DataHello");
  DataHello m;
  std::memcpy(m.token.data(), r.Raw(m.token.size(), "token").data(), m.token.size());
  m.stream = r.U32("stream");
  r.ExpectEnd();
  return m;
}

void EncodeStats(const Stats& s, std::string& out) {
  if (s.size() > kMaxStats) ThrowProtocolError("cannot encode " + std::to_string(s.size()) + " stats");
  ByteWriter w(out);
  w.U32(static_cast<uint32_t>(s.size()));
  for (const auto& [key, value] : s) {
    if (key.empty() || key.size() > kMaxStatKeyBytes) ThrowProtocolError("cannot encode stat key " + Quoted(key));
    w.Str8(key);
    w.U64(value);
  }
}

Stats DecodeStats(std::string_view payload) {
  ByteReader r(payload, "Result");
  uint32_t n = r.Count(kMaxStats, 1 + 8, "stat count");
  Stats s;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view key = r.Str8(kMaxStatKeyBytes, "stat key");
    if (key.empty()) r.Fail("empty stat key");
    uint64_t value = r.U64("stat value");
    if (!s.emplace(std::string(key), value).second) r.Fail("duplicate stat " + Quoted(key));
  }
  r.ExpectEnd();
  return s;
}

}  // namespace ktsync
