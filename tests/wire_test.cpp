// links: ktsync_manifest OpenSSL::SSL OpenSSL::Crypto
// The transfer sources under test are compiled into this test directly instead of linking
// ktsync_transfer, which also pulls in apply/store: isolation while those modules are in flux.
#include "transfer/byte_io.cpp"
#include "transfer/stream.cpp"
#include "transfer/wire.cpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

namespace ktsync {
namespace {

// Runs `fn`, which must throw ktsync::Error with `code` and a message containing `needle`.
template <typename Fn>
void ExpectError(ExitCode code, const std::string& needle, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

template <typename Fn>
void ExpectProtocolError(const std::string& needle, Fn fn) {
  ExpectError(ExitCode::StreamData, needle, fn);
}

Entry Make(std::string path, EntryType type, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  return e;
}

// A small manifest in path order with every entry type.
Manifest Sample() {
  Manifest m;
  m.push_back(Make("", EntryType::Dir, 0755));
  Entry f = Make("a", EntryType::File);
  f.size = 12345;
  f.uid = 1000;
  f.gid = 100;
  f.mtime = Timestamp::FromNs(-5);  // before 1970 is valid
  f.hash = Hash128{1, 2};
  f.dev = 7;  // local identity: must not travel
  f.ino = 99;
  f.nlink = 2;
  f.ctime_ns = 42;
  f.set_xattrs({{"security.capability", std::string("\x01\0\0\x02", 4)}, {"user.k", ""}});
  m.push_back(f);
  Entry d = Make("d", EntryType::Dir, 0700);
  d.mtime = {INT64_MAX, 999'999'999};  // far beyond 2262: seconds and nanoseconds travel apart
  d.set_xattrs({{"system.posix_acl_default", "acl"}});
  m.push_back(d);
  Entry link = Make("d/link", EntryType::Symlink, 0777);
  link.set_link_target("../a");
  link.set_xattrs({{"trusted.t", std::string(kMaxXattrValueBytes - 9, 'v')}});
  m.push_back(link);
  Entry hard = Make("d/z", EntryType::File);
  hard.size = 12345;
  hard.link_leader = 1;
  m.push_back(hard);
  Entry cdev = Make("dev", EntryType::CharDev, 0600);
  cdev.set_rdev(0x0103);
  m.push_back(cdev);
  m.push_back(Make("dev2", EntryType::BlockDev, 0600));
  m.push_back(Make("fifo", EntryType::Fifo));
  Entry mnt = Make("mnt", EntryType::Dir, 0755);
  mnt.contents_skipped = true;  // a mount point -x did not descend
  m.push_back(mnt);
  Entry part = Make("part", EntryType::Dir, 0755);
  part.contents_partial = true;  // --files-from took some of its children
  m.push_back(part);
  m.push_back(Make("sock", EntryType::Socket, 04755));
  return m;
}

std::string EncodeAll(std::span<const Entry> entries) {
  std::string out;
  EXPECT_EQ(EncodeEntryBatch(entries, out), entries.size());
  return out;
}

// Manifest-batch payload with hand-made entries (for rejections the encoder refuses to make).
struct RawBatch {
  std::string bytes;
  ByteWriter w{bytes};
  explicit RawBatch(uint32_t count) { w.U32(count); }
  void Add(std::string_view path, uint8_t type, uint32_t mode = 0644, uint64_t size = 0, uint32_t nsec = 0) {
    w.Str16(path);
    w.U8(type);
    w.U32(mode);
    w.U32(0);
    w.U32(0);
    w.U64(size);
    w.I64(0);
    w.U32(nsec);
  }
  // The flags byte, and a follower's leader ordinal after it.
  void Tail(int64_t leader = -1) {
    w.U8(leader == -1 ? 0 : 8);
    if (leader != -1) w.I64(leader);
  }
};

Manifest RootOnly() { return Manifest{Make("", EntryType::Dir, 0755)}; }

// Decodes `payload` as the next batch of a stream that listed `m` so far, appending to `m`:
// a fresh decoder is first fed `m` itself, so it checks `payload` in that context.
void DecodeEntryBatch(std::string_view payload, Manifest& m) {
  ManifestDecoder decoder;
  EntryBatch b;
  for (std::span<const Entry> rest(m); !rest.empty();) {
    std::string prefix;
    rest = rest.subspan(EncodeEntryBatch(rest, prefix));
    decoder.Decode(prefix, b);
  }
  decoder.Decode(payload, b);
  EXPECT_EQ(b.first, static_cast<int64_t>(m.size()));
  for (Entry& e : b.entries) m.push_back(std::move(e));
}

// ---- ByteWriter / ByteReader ----------------------------------------------------------

TEST(ByteIo, WritesLittleEndian) {
  std::string out;
  ByteWriter w(out);
  w.U8(0x01);
  w.U16(0x0302);
  w.U32(0x07060504);
  w.U64(0x0f0e0d0c0b0a0908);
  w.I64(-1);
  ASSERT_EQ(out.size(), 1u + 2 + 4 + 8 + 8);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(static_cast<uint8_t>(out[i]), i + 1);
  for (int i = 15; i < 23; ++i) EXPECT_EQ(static_cast<uint8_t>(out[i]), 0xff);
  ByteReader r(out, "test");
  EXPECT_EQ(r.U8("a"), 0x01);
  EXPECT_EQ(r.U16("b"), 0x0302);
  EXPECT_EQ(r.U32("c"), 0x07060504u);
  EXPECT_EQ(r.U64("d"), 0x0f0e0d0c0b0a0908u);
  EXPECT_EQ(r.I64("e"), -1);
  r.ExpectEnd();
}

TEST(ByteIo, ReaderRejectsOverrun) {
  std::string three = "abc";
  ByteReader r(three, "test");
  ExpectProtocolError("truncated at field (need 4 bytes, 3 left)", [&] { r.U32("field"); });
}

TEST(ByteIo, ReaderRejectsLengthAboveCapBeforeReadingBytes) {
  std::string out;
  ByteWriter w(out);
  w.U16(0xffff);  // claims 65535 bytes, none follow
  ByteReader r(out, "test");
  ExpectProtocolError("name length 65535 exceeds limit 10", [&] { r.Str16(10, "name"); });
}

TEST(ByteIo, ReaderRejectsCountThatCannotFitTheBytesLeft) {
  std::string out;
  ByteWriter w(out);
  w.U32(1000);
  w.U64(0);
  ByteReader r(out, "test");
  ExpectProtocolError("cannot fit", [&] { r.Count(100000, 8, "items"); });
  ByteReader r2(out, "test");
  ExpectProtocolError("items 1000 exceeds limit 999", [&] { r2.Count(999, 0, "items"); });
}

TEST(ByteIo, ReaderRejectsTrailingBytes) {
  std::string out = "x";
  ExpectProtocolError("1 unexpected trailing bytes", [&] { ByteReader(out, "test").ExpectEnd(); });
}

// ---- Frame headers --------------------------------------------------------------------

TEST(FrameHeader, RoundTrips) {
  unsigned char h[kFrameHeaderBytes];
  EncodeFrameHeader(FrameType::FileData, 0x123456, h);
  EXPECT_EQ(h[0], static_cast<uint8_t>(FrameType::FileData));
  EXPECT_EQ(h[1], 0x56);
  FrameHeader d = DecodeFrameHeader(h);
  EXPECT_EQ(d.type, FrameType::FileData);
  EXPECT_EQ(d.length, 0x123456u);
  EncodeFrameHeader(FrameType::Done, kMaxFramePayload, h);
  EXPECT_EQ(DecodeFrameHeader(h).length, kMaxFramePayload);
}

TEST(FrameHeader, RejectsPayloadAboveCap) {
  unsigned char huge[] = {static_cast<uint8_t>(FrameType::FileData), 0xff, 0xff, 0xff, 0xff};
  ExpectProtocolError("4294967295 bytes exceeds", [&] { DecodeFrameHeader(huge); });
  unsigned char one_over[kFrameHeaderBytes];
  one_over[0] = static_cast<uint8_t>(FrameType::Hello);
  uint32_t len = kMaxFramePayload + 1;
  for (int i = 0; i < 4; ++i) one_over[1 + i] = static_cast<uint8_t>(len >> (8 * i));
  ExpectProtocolError("exceeds", [&] { DecodeFrameHeader(one_over); });
  unsigned char out[kFrameHeaderBytes];
  ExpectProtocolError("cannot send", [&] { EncodeFrameHeader(FrameType::FileData, size_t{kMaxFramePayload} + 1, out); });
}

TEST(FrameHeader, RejectsUnknownTypes) {
  for (uint8_t t : {0, 7, 8, 27, 255}) {  // 7, 8: version 2's plan frames; 27: one past FileListEnd, the last
    unsigned char h[] = {t, 0, 0, 0, 0};
    ExpectProtocolError("unknown frame type " + std::to_string(t), [&] { DecodeFrameHeader(h); });
  }
}

TEST(FrameHeader, HintsAtShellNoiseWhenTheHeaderIsText) {
  const unsigned char motd[] = {'W', 'e', 'l', 'c', 'o'};
  ExpectProtocolError("remote shell print something", [&] { DecodeFrameHeader(motd); });
}

TEST(FrameHeader, EmptyFramesMustBeEmpty) {
  ExpectEmptyPayload(FrameType::Done, "");
  ExpectProtocolError("Done: 1 unexpected trailing bytes", [] { ExpectEmptyPayload(FrameType::Done, "x"); });
}

// ---- Hello ----------------------------------------------------------------------------

TEST(Hello, RoundTrips) {
  std::string out;
  EncodeHello({kProtocolVersion, 0x5}, out);
  EXPECT_EQ(out.size(), 18u);
  EXPECT_EQ(out.substr(0, 8), std::string("KTSYNC\0\1", 8));
  EXPECT_EQ(DecodeHello(out), (Hello{kProtocolVersion, 0x5}));
}

TEST(Hello, RejectsBadMagicTruncationAndTrailingBytes) {
  std::string out;
  EncodeHello({}, out);
  std::string bad = out;
  bad[0] = 'X';
  ExpectError(ExitCode::StartProtocol, "did not greet as ktsync", [&] { DecodeHello(bad); });
  ExpectProtocolError("truncated", [&] { DecodeHello(out.substr(0, 12)); });
  ExpectProtocolError("trailing", [&] { DecodeHello(out + "z"); });
  std::string v0 = out;
  v0[8] = v0[9] = 0;
  ExpectProtocolError("version 0", [&] { DecodeHello(v0); });
}

TEST(Hello, NegotiateKeepsCommonFeaturesAndLowerVersion) {
  Agreement a = Negotiate({9, 0b1011}, {9, 0b0110});
  EXPECT_EQ(a.version, 9);
  EXPECT_EQ(a.features, 0b0010u);
  EXPECT_EQ(Negotiate({9, 0}, {10, 0}).version, 9);  // a newer peer may talk down to us
}

TEST(Hello, NegotiateRefusesAnOlderPeerWithAnActionableMessage) {
  // v8 peers cannot carry --files-from (a partly taken directory's flag, a pull's list):
  // they would delete what the list leaves out; they count credit only in entries, so a
  // session with one could not bound what it holds; their Items lack %M's mtime; a source
  // among them would send -L's links as links.
  static_assert(kMinProtocolVersion == 9);
  ExpectError(ExitCode::Protocol, "peer speaks protocol v8, this ktsync speaks v9; install matching versions",
              [] { Negotiate({9, 0}, {8, 0}); });
}


// ---- Entry batches --------------------------------------------------------------------

TEST(EntryBatch, RoundTripsEveryTypeWithoutLocalIdentity) {
  Manifest src = Sample();
  std::string payload = EncodeAll(src);
  Manifest got;
  DecodeEntryBatch(payload, got);
  ASSERT_EQ(got.size(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    Entry want = src[i];
    want.dev = want.ino = 0;
    if (!want.IsFile() || want.link_leader >= 0) want.nlink = 1;  // only a possible leader's count travels
    want.ctime_ns = 0;
    if (want.type != EntryType::CharDev && want.type != EntryType::BlockDev) want.set_rdev(0);
    const Entry& g = got[i];
    EXPECT_EQ(g.path, want.path);
    EXPECT_EQ(g.type, want.type);
    EXPECT_EQ(g.mode, want.mode);
    EXPECT_EQ(g.uid, want.uid);
    EXPECT_EQ(g.gid, want.gid);
    EXPECT_EQ(g.size, want.size);
    EXPECT_EQ(g.mtime, want.mtime);
    EXPECT_EQ(g.link_target(), want.link_target());
    EXPECT_EQ(g.rdev(), want.rdev());
    EXPECT_EQ(g.hash, want.hash);
    EXPECT_EQ(g.link_leader, want.link_leader);
    EXPECT_EQ(g.contents_skipped, want.contents_skipped);
    EXPECT_EQ(g.contents_partial, want.contents_partial);
    EXPECT_EQ(g.dev, 0u);
    EXPECT_EQ(g.ino, 0u);
    EXPECT_EQ(g.nlink, want.nlink);
    EXPECT_EQ(g.ctime_ns, 0);
    EXPECT_EQ(g.xattrs(), want.xattrs());
  }
}

// An entry's extended attributes, hand-encoded after a file entry's flags byte.
std::string XattrBatch(const std::vector<std::pair<std::string, std::string>>& xs, uint32_t count) {
  RawBatch b(1);
  b.Add("x", 1);
  b.w.U8(16);
  b.w.U32(count);
  for (const auto& [name, value] : xs) {
    b.w.Str8(name);
    b.w.U32(static_cast<uint32_t>(value.size()));
    b.w.Raw(value.data(), value.size());
  }
  return b.bytes;
}

TEST(EntryBatch, RejectsExtendedAttributesNoScanMakes) {
  auto reject = [](const std::string& needle, const std::vector<std::pair<std::string, std::string>>& xs,
                   std::optional<uint32_t> count = std::nullopt) {
    Manifest m = RootOnly();
    ExpectProtocolError(needle, [&] { DecodeEntryBatch(XattrBatch(xs, count.value_or(xs.size())), m); });
  };
  reject("empty extended attribute list", {});
  reject("exceeds limit 1024", {}, 1025);
  reject("is not copied", {{"system.data", "x"}});
  reject("is not copied", {{"user.", "x"}});
  reject("not sorted by name, or repeated", {{"user.b", ""}, {"user.a", ""}});
  reject("not sorted by name, or repeated", {{"user.a", ""}, {"user.a", ""}});
  reject("contains a NUL byte", {{std::string("user.a\0b", 8), ""}});
  reject("exceed the limits", {{"user.a", std::string(kMaxXattrValueBytes + 1, 'v')}});
  reject("exceed the limits", {{"user.a", std::string(40000, 'v')}, {"user.b", std::string(40000, 'v')}});
  Manifest m = RootOnly();  // a length beyond the payload is caught before any copy
  std::string cut = XattrBatch({{"user.a", "v"}}, 1);
  cut.resize(cut.size() - 1);
  ExpectProtocolError("", [&] { DecodeEntryBatch(cut, m); });
}

TEST(EntryBatch, EncoderRefusesExtendedAttributesOverTheLimits) {
  Manifest m = RootOnly();
  Entry f = Make("f", EntryType::File);
  f.set_xattrs({{"user.a", std::string(40000, 'v')}, {"user.b", std::string(40000, 'v')}});
  m.push_back(f);
  std::string out;
  ExpectError(ExitCode::FileIo, "ktsync's limit", [&] { EncodeEntryBatch(m, out); });
}

TEST(EntryBatch, SendsNoSizeForNonFilesAndNoTargetForNonLinks) {
  Manifest m = RootOnly();
  m[0].size = 4096;             // st_size of a directory: meaningless on the other side
  m[0].set_link_target("ignored");
  std::string payload = EncodeAll(m);
  Manifest got;
  DecodeEntryBatch(payload, got);
  EXPECT_EQ(got[0].size, 0u);
  EXPECT_EQ(got[0].link_target(), "");
}

TEST(EntryBatch, DecodesAcrossBatchesWithGlobalIndices) {
  Manifest src = Sample();
  Manifest got;
  std::span<const Entry> rest(src);
  while (!rest.empty()) {
    std::string payload;
    size_t n = EncodeEntryBatch(rest.first(std::min<size_t>(2, rest.size())), payload);
    DecodeEntryBatch(payload, got);
    rest = rest.subspan(n);
  }
  ASSERT_EQ(got.size(), src.size());
  EXPECT_EQ(got[4].link_leader, 1);
}

TEST(EntryBatch, SplitsAtTheCountCap) {
  Manifest m = RootOnly();
  for (int i = 0; i < 70000; ++i) m.push_back(Make("f" + std::to_string(1000000 + i), EntryType::File));
  std::string payload;
  EXPECT_EQ(EncodeEntryBatch(m, payload), kMaxBatchEntries);
  EXPECT_LE(payload.size(), kMaxFramePayload);
}

TEST(EntryBatch, SplitsAtTheFrameCap) {
  Manifest m = RootOnly();
  std::string name(250, 'x');
  for (int i = 0; i < 20000; ++i) m.push_back(Make(name + std::to_string(10000 + i), EntryType::File));
  std::string payload;
  size_t n = EncodeEntryBatch(m, payload);
  EXPECT_LT(n, m.size());
  EXPECT_LE(payload.size(), kMaxFramePayload);
  Manifest got;
  DecodeEntryBatch(payload, got);
  EXPECT_EQ(got.size(), n);
}

TEST(EntryBatch, EncoderRefusesEntriesThePeerWouldReject) {
  Manifest m = RootOnly();
  m.push_back(Make(std::string(256, 'n'), EntryType::File));
  EXPECT_NE(WireEntryProblem(m[1]), "");
  std::string out;
  ExpectError(ExitCode::FileIo, "path component is 256 bytes", [&] { EncodeEntryBatch(m, out); });
  Entry deep = Make("", EntryType::File);
  for (int i = 0; i < 20; ++i) deep.path += (i ? "/" : "") + std::string(250, 'd');
  EXPECT_NE(WireEntryProblem(deep).find("protocol limit is 4096"), std::string::npos);
  Entry link = Make("l", EntryType::Symlink);
  EXPECT_EQ(WireEntryProblem(link), "empty symlink target");
  Entry mode = Make("m", EntryType::File, 010000);
  EXPECT_EQ(WireEntryProblem(mode), "mode is beyond 07777");
}

TEST(EntryBatch, RejectsEveryTruncation) {
  std::string payload = EncodeAll(Sample());
  for (size_t len = 0; len < payload.size(); ++len) {
    Manifest got;
    ExpectProtocolError("protocol error: ManifestBatch: ", [&] { DecodeEntryBatch(std::string_view(payload).substr(0, len), got); });
  }
}

TEST(EntryBatch, RejectsCountsOverCapOrBeyondThePayload) {
  std::string huge;
  ByteWriter(huge).U32(0xffffffff);
  Manifest got;
  ExpectProtocolError("entry count 4294967295 exceeds limit 65536", [&] { DecodeEntryBatch(huge, got); });
  std::string lying;
  ByteWriter(lying).U32(1000);
  ExpectProtocolError("cannot fit", [&] { DecodeEntryBatch(lying, got); });
}

TEST(EntryBatch, RejectsUnsafePaths) {
  const std::string bad[] = {"..", "../x", "/abs", "a//b", std::string("a\0b", 3), "./a", "a/", "a/./b", "a/.."};
  for (const std::string& path : bad) {
    RawBatch b(1);
    b.Add(path, 1);
    b.Tail();
    Manifest m = RootOnly();
    ExpectProtocolError("unsafe path", [&] { DecodeEntryBatch(b.bytes, m); });
  }
}

TEST(EntryBatch, RejectsOverlongPathsAndNames) {
  RawBatch b(1);
  b.Add(std::string(256, 'n'), 1);
  b.Tail();
  Manifest m = RootOnly();
  ExpectProtocolError("component is 256 bytes", [&] { DecodeEntryBatch(b.bytes, m); });
  RawBatch c(1);
  c.w.U16(5000);  // path length above PATH_MAX, bytes present
  c.w.Raw(std::string(5000, 'p').data(), 5000);
  c.w.Raw(std::string(40, '\0').data(), 40);
  ExpectProtocolError("path length 5000 exceeds limit 4096", [&] { DecodeEntryBatch(c.bytes, m); });
}

TEST(EntryBatch, RejectsBadTypesModesAndFlags) {
  for (uint8_t type : {0, 8, 255}) {
    RawBatch b(1);
    b.Add("x", type);
    b.Tail();
    Manifest m = RootOnly();
    ExpectProtocolError("unknown entry type " + std::to_string(type), [&] { DecodeEntryBatch(b.bytes, m); });
  }
  RawBatch mode(1);
  mode.Add("x", 1, 010000);
  mode.Tail();
  Manifest m = RootOnly();
  ExpectProtocolError("beyond 07777", [&] { DecodeEntryBatch(mode.bytes, m); });
  RawBatch flag(1);
  flag.Add("x", 1);
  flag.w.U8(64);
  ExpectProtocolError("unknown entry flags 64", [&] { DecodeEntryBatch(flag.bytes, m); });
  RawBatch skipped_file(1);  // "contents not descended" makes sense only for a directory
  skipped_file.Add("x", 1);
  skipped_file.w.U8(2);
  ExpectProtocolError("non-directory \"x\" marked as not descended", [&] { DecodeEntryBatch(skipped_file.bytes, m); });
  RawBatch nsec(1);
  nsec.Add("x", 1, 0644, 0, 1'000'000'000);
  nsec.Tail();
  ExpectProtocolError("mtime nanoseconds 1000000000", [&] { DecodeEntryBatch(nsec.bytes, m); });
  RawBatch dir_size(1);
  dir_size.Add("x", 2, 0755, 4096);
  dir_size.Tail();
  ExpectProtocolError("non-file \"x\" has a size", [&] { DecodeEntryBatch(dir_size.bytes, m); });
}

TEST(EntryBatch, RejectsBadSymlinkTargets) {
  auto batch = [](std::string_view target) {
    RawBatch b(1);
    b.Add("l", 3, 0777);
    b.w.Str16(target);
    b.Tail();
    return b.bytes;
  };
  Manifest m = RootOnly();
  ExpectProtocolError("empty symlink target", [&] { DecodeEntryBatch(batch(""), m); });
  ExpectProtocolError("NUL", [&] { DecodeEntryBatch(batch(std::string("a\0b", 3)), m); });
  ExpectProtocolError("symlink target length 4097", [&] { DecodeEntryBatch(batch(std::string(4097, 't')), m); });
}

TEST(EntryBatch, RejectsEntriesOutOfManifestOrder) {
  Manifest empty;
  RawBatch not_root(1);
  not_root.Add("a", 1);
  not_root.Tail();
  ExpectProtocolError("is not the root", [&] { DecodeEntryBatch(not_root.bytes, empty); });

  RawBatch unsorted(2);
  unsorted.Add("b", 1);
  unsorted.Tail();
  unsorted.Add("a", 1);
  unsorted.Tail();
  Manifest m = RootOnly();
  ExpectProtocolError("out of order or duplicated", [&] { DecodeEntryBatch(unsorted.bytes, m); });

  RawBatch dup(2);
  dup.Add("a", 1);
  dup.Tail();
  dup.Add("a", 1);
  dup.Tail();
  m = RootOnly();
  ExpectProtocolError("out of order or duplicated", [&] { DecodeEntryBatch(dup.bytes, m); });
}

TEST(EntryBatch, RejectsChildrenOfNonDirectoriesOrMissingParents) {
  // "a" is a symlink: "a/x" would be written through it, outside the destination.
  RawBatch through_link(2);
  through_link.Add("a", 3, 0777);
  through_link.w.Str16("/etc");
  through_link.Tail();
  through_link.Add("a/x", 1);
  through_link.Tail();
  Manifest m = RootOnly();
  ExpectProtocolError("parent of \"a/x\" is not a directory", [&] { DecodeEntryBatch(through_link.bytes, m); });

  RawBatch orphan(2);
  orphan.Add("a", 2, 0755);
  orphan.Tail();
  orphan.Add("b/x", 1);
  orphan.Tail();
  m = RootOnly();
  ExpectProtocolError("parent of \"b/x\"", [&] { DecodeEntryBatch(orphan.bytes, m); });

  Manifest file_root{Make("", EntryType::File)};
  RawBatch under_file(1);
  under_file.Add("x", 1);
  under_file.Tail();
  ExpectProtocolError("is not the root directory", [&] { DecodeEntryBatch(under_file.bytes, file_root); });

  // Going back up to an ancestor is fine: "", d, d/e, d/e/f, d/g, h.
  RawBatch ok(5);
  ok.Add("d", 2, 0755);
  ok.Tail();
  ok.Add("d/e", 2, 0755);
  ok.Tail();
  ok.Add("d/e/f", 1);
  ok.Tail();
  ok.Add("d/g", 1);
  ok.Tail();
  ok.Add("h", 1);
  ok.Tail();
  m = RootOnly();
  DecodeEntryBatch(ok.bytes, m);
  EXPECT_EQ(m.size(), 6u);
}

// Whether a leader really is a multi-link file is the planner's check (it remembers those);
// the decoder bounds the ordinal.
TEST(EntryBatch, RejectsLeaderOrdinalsThatAreNotEarlier) {
  auto batch = [](int64_t leader) {
    RawBatch b(2);
    b.Add("a", 1, 0644);
    b.Tail();
    b.Add("b", 1);
    b.Tail(leader);
    return b.bytes;
  };
  for (int64_t leader : {int64_t{2}, int64_t{3}, int64_t{-2}, INT64_MIN, INT64_MAX}) {
    Manifest m = RootOnly();
    ExpectProtocolError("hard-link leader", [&] { DecodeEntryBatch(batch(leader), m); });
  }
  Manifest m = RootOnly();
  DecodeEntryBatch(batch(1), m);
  EXPECT_EQ(m[2].link_leader, 1);
}

TEST(EntryBatch, LinkCountsTravelOnlyForFilesThatMayLead) {
  auto one = [](uint8_t type, uint8_t flags, uint32_t nlink) {
    RawBatch b(1);
    b.Add("x", type);
    b.w.U8(flags);
    if (flags & 4) b.w.U32(nlink);
    if (flags & 8) b.w.I64(0);
    return b.bytes;
  };
  Manifest m = RootOnly();
  DecodeEntryBatch(one(1, 4, 3), m);
  EXPECT_EQ(m[1].nlink, 3u);
  m = RootOnly();
  ExpectProtocolError("with 1 links", [&] { DecodeEntryBatch(one(1, 4, 1), m); });
  ExpectProtocolError("non-file \"x\" has links", [&] { DecodeEntryBatch(one(2, 4, 2), m); });
  ExpectProtocolError("both leads and follows", [&] { DecodeEntryBatch(one(1, 12, 2), m); });
}

// ---- Index lists, hash replies, plans -------------------------------------------------

// Whether an index names something the receiver listed is the receiver's check
// (DestChannel's window); the decoder refuses what can never be an ordinal.
TEST(IndexList, RoundTripsAndRejectsNegatives) {
  std::vector<int64_t> idx = {0, 5, 9};
  std::string payload;
  EXPECT_EQ(EncodeIndexList(idx, payload), 3u);
  std::vector<int64_t> got;
  DecodeIndexList(payload, got);
  EXPECT_EQ(got, idx);
  std::string negative;
  ByteWriter w(negative);
  w.U32(1);
  w.I64(-1);
  ExpectProtocolError("negative index -1", [&] { DecodeIndexList(negative, got); });
}

TEST(IndexList, RejectsCountsOverCapAndTruncation) {
  std::string huge;
  ByteWriter(huge).U32(kMaxBatchIndices + 1);
  std::vector<int64_t> got;
  ExpectProtocolError("exceeds limit", [&] { DecodeIndexList(huge, got); });
  std::string payload;
  std::vector<int64_t> idx = {1, 2};
  EncodeIndexList(idx, payload);
  ExpectProtocolError("cannot fit", [&] { DecodeIndexList(payload.substr(0, payload.size() - 1), got); });
  std::vector<int64_t> many(kMaxBatchIndices + 5, 0);
  std::string big;
  EXPECT_EQ(EncodeIndexList(many, big), kMaxBatchIndices);
}

TEST(EntryFlags, PartialOnlyForADescendedDirectory) {
  for (bool skipped : {false, true}) {
    Entry e = Make("f", skipped ? EntryType::Dir : EntryType::File);
    e.contents_skipped = skipped;
    std::string payload;
    Entry root = Make("", EntryType::Dir, 0755);
    EncodeEntryBatch(std::span<const Entry>(&root, 1), payload);
    std::string one;
    EncodeEntryBatch(std::span<const Entry>(&e, 1), one);
    one[one.size() - 1] = static_cast<char>(one.back() | 32);  // the flags byte ends this entry
    ManifestDecoder d;
    EntryBatch b;
    d.Decode(payload, b);
    ExpectProtocolError("partly taken", [&] { d.Decode(one, b); });
  }
}

std::vector<ListedPath> Listed(std::vector<std::pair<std::string, bool>> v) {
  std::vector<ListedPath> out;
  for (auto& [p, c] : v) out.push_back({p, c});
  return out;
}

TEST(FileListFrames, RoundTripAcrossBatchesAndEnd) {
  std::vector<ListedPath> paths = Listed({{"", true}, {"a", false}, {"a b", false}, {"a/c", true}});
  std::string one, two;
  EXPECT_EQ(EncodeFileListBatch(std::span<const ListedPath>(paths).first(2), one), 2u);
  EXPECT_EQ(EncodeFileListBatch(std::span<const ListedPath>(paths).subspan(2), two), 2u);
  FileListDecoder d;
  std::vector<ListedPath> got;
  d.Decode(one, got);
  d.Decode(two, got);
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].path, paths[i].path);
    EXPECT_EQ(got[i].contents, paths[i].contents);
  }
  std::string end;
  EncodeFileListEnd(4, end);
  d.End(end);
  std::string wrong;
  EncodeFileListEnd(5, wrong);
  ExpectProtocolError("says 5 paths, 4 came", [&] { d.End(wrong); });
}

TEST(FileListFrames, RejectOrderRepeatsUnsafePathsAndFlags) {
  auto decode = [](std::vector<ListedPath> v) {
    std::string payload;
    EncodeFileListBatch(v, payload);
    std::vector<ListedPath> got;
    FileListDecoder().Decode(payload, got);
  };
  ExpectProtocolError("out of order or repeated", [&] { decode(Listed({{"b", false}, {"a", false}})); });
  ExpectProtocolError("out of order or repeated", [&] { decode(Listed({{"a", false}, {"a", true}})); });
  ExpectProtocolError("unsafe path", [&] { decode(Listed({{"a/../b", false}})); });
  ExpectProtocolError("unsafe path", [&] { decode(Listed({{"/etc", false}})); });
  ExpectProtocolError("out of order", [&] { decode(Listed({{"a", false}, {"", false}})); });  // root only first
  std::string flags;
  ByteWriter w(flags);
  w.U32(1);
  w.U8(2);
  w.Str16("a");
  std::vector<ListedPath> got;
  ExpectProtocolError("unknown path flags", [&] { FileListDecoder().Decode(flags, got); });
  std::string empty;
  ByteWriter(empty).U32(0);
  ExpectProtocolError("empty batch", [&] { FileListDecoder().Decode(empty, got); });
  std::string huge;
  ByteWriter(huge).U32(kMaxFileListBatch + 1);
  ExpectProtocolError("exceeds limit", [&] { FileListDecoder().Decode(huge, got); });
}

// A daemon's caps (kMaxDaemonListedPaths, kMaxDaemonListBytes) are the decoder's: a list
// beyond them is refused with exit 1 and a message naming them, not as a protocol error.
TEST(FileListFrames, CapsRefuseALongListNamingThem) {
  static_assert(kMaxDaemonListedPaths == 1'000'000 && kMaxDaemonListBytes == 64 << 20);
  auto decode_all = [](FileListDecoder& d, const std::vector<ListedPath>& v) {
    std::vector<ListedPath> out;
    for (size_t at = 0; at < v.size();) {
      std::string payload;
      at += EncodeFileListBatch(std::span<const ListedPath>(v).subspan(at), payload);
      d.Decode(payload, out);
    }
    return out.size();
  };
  auto expect_refused = [](const std::string& message, auto fn) {
    try {
      fn();
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  FileListDecoder two(2, 1 << 20, "this ktsync daemon");
  EXPECT_EQ(decode_all(two, Listed({{"a", false}, {"b", false}})), 2u);
  expect_refused("too long for this ktsync daemon, which takes at most 2 paths, 1 MiB of them", [&] {
    decode_all(two, Listed({{"c", false}}));
  });
  // 5000 names of 250 bytes: past 1 MiB, within the count.
  std::vector<ListedPath> long_names;
  for (int i = 0; i < 5000; ++i) {
    char head[8];
    std::snprintf(head, sizeof head, "%05d", i);
    long_names.push_back({head + std::string(245, 'x'), false});
  }
  FileListDecoder bytes(10000, 1 << 20, "this ktsync daemon");
  expect_refused("which takes at most 10000 paths, 1 MiB of them", [&] { decode_all(bytes, long_names); });
  FileListDecoder roomy(10000, 2 << 20, "this ktsync daemon");
  EXPECT_EQ(decode_all(roomy, long_names), 5000u);
}

TEST(HashReply, RoundTripsAndRejectsBadFlags) {
  std::vector<HashReplyItem> items = {{3, Hash128{7, 8}}, {4, std::nullopt}};
  std::string payload;
  EXPECT_EQ(EncodeHashReply(items, payload), 2u);
  std::vector<HashReplyItem> got;
  DecodeHashReply(payload, got);
  EXPECT_EQ(got, items);
  std::string bad = payload;
  bad[4 + 8] = 2;  // first item's flag
  ExpectProtocolError("hash flag 2", [&] { DecodeHashReply(bad, got); });
  std::string negative;
  EncodeHashReply(std::vector<HashReplyItem>{{-3, std::nullopt}}, negative);
  ExpectProtocolError("negative index -3", [&] { DecodeHashReply(negative, got); });
}

TEST(Credit, RoundTripsAndRejectsAnInvertedRange) {
  std::string p;
  EncodeCredit({5, 70000, 123456789}, p);
  EXPECT_EQ(p.size(), 24u);  // three i64
  EXPECT_EQ(DecodeCredit(p), (Credit{5, 70000, 123456789}));
  for (Credit bad : {Credit{-1, 5, 0}, Credit{9, 8, 0}}) {
    std::string q;
    EncodeCredit(bad, q);
    ExpectProtocolError("credit range is inverted", [&] { DecodeCredit(q); });
  }
  std::string negative;
  EncodeCredit({0, 1, -1}, negative);
  ExpectProtocolError("negative byte credit", [&] { DecodeCredit(negative); });
  ExpectProtocolError("trailing", [&] { DecodeCredit(p + "x"); });
  ExpectProtocolError("Credit", [&] { DecodeCredit(p.substr(0, 16)); });  // a version 8 Credit
}

// The byte credit counts what EncodedEntryBytes says: exactly an entry's bytes in a batch,
// and never more than kMaxEncodedEntryBytes for an entry the encoder accepts.
TEST(Credit, EncodedEntryBytesIsTheEntrysShareOfABatchAndBounded) {
  Entry e;
  e.path = std::string(255, 'p');
  for (int k = 0; k < 15; ++k) e.path += "/" + std::string(254, 'q');  // 4080 bytes
  e.type = EntryType::Symlink;
  e.set_link_target(std::string(kMaxLinkTargetBytes, 't'));
  Xattrs xs;
  for (size_t k = 0; k < kMaxXattrCount; ++k) {
    char name[16];
    std::snprintf(name, sizeof name, "user.%04zu", k);
    xs.push_back({name, std::string(kMaxXattrBytes / kMaxXattrCount - 9, 'v')});
  }
  e.set_xattrs(xs);
  std::string out;
  ASSERT_EQ(EncodeEntryBatch(std::span<const Entry>(&e, 1), out), 1u);
  EXPECT_EQ(out.size(), 4 + EncodedEntryBytes(e));  // the batch's count, then the entry
  EXPECT_LE(static_cast<int64_t>(EncodedEntryBytes(e)), kMaxEncodedEntryBytes);
  EXPECT_GT(static_cast<int64_t>(EncodedEntryBytes(e)), kMaxEncodedEntryBytes * 3 / 4);  // a tight bound
}

TEST(Item, RoundTripsAndRejectsWhatNoPlanMakes) {
  ItemView v;
  v.kind = ActionKind::HardLink;
  v.changes = kChNew;
  v.type = EntryType::File;
  v.size = 99;
  v.mtime = -5;  // before the epoch: any time_t
  v.path = "d/\xff name";
  v.leader = "a";
  std::string p;
  EncodeItem(v, p);
  EXPECT_EQ(DecodeItem(p), v);
  auto with = [&](auto change) {
    ItemView w = v;
    change(w);
    std::string q;
    EncodeItem(w, q);
    return q;
  };
  ExpectProtocolError("unknown action kind 10", [&] { DecodeItem(with([](ItemView& w) { w.kind = ActionKind(10); })); });
  ExpectProtocolError("unknown change bits 1024", [&] { DecodeItem(with([](ItemView& w) { w.changes = 0x400; })); });
  ExpectProtocolError("unknown entry type 9", [&] { DecodeItem(with([](ItemView& w) { w.type = EntryType(9); })); });
  ExpectProtocolError("unsafe path", [&] { DecodeItem(with([](ItemView& w) { w.path = "../etc"; })); });
  ExpectProtocolError("unsafe path", [&] { DecodeItem(with([](ItemView& w) { w.leader = "/abs"; })); });
  auto symlink = [](std::string target, ActionKind kind = ActionKind::Symlink) {
    return [target, kind](ItemView& w) {
      w.kind = kind;
      w.type = EntryType::Symlink;
      w.leader.clear();
      w.mtime = 0;
      w.target = target;
    };
  };
  ItemView link = DecodeItem(with(symlink("../t")));
  EXPECT_EQ(link.target, "../t");
  ExpectProtocolError("symlink target contains a NUL byte",
                      [&] { DecodeItem(with(symlink(std::string("a\0b", 3)))); });
  ExpectProtocolError("no symlink made", [&] { DecodeItem(with(symlink("t", ActionKind::Delete))); });
  ExpectProtocolError("no symlink made", [&] { DecodeItem(with([](ItemView& w) { w.target = "t"; })); });
  ExpectProtocolError("an mtime for a deletion", [&] {
    DecodeItem(with([](ItemView& w) {
      w.kind = ActionKind::Delete;
      w.leader.clear();
    }));
  });
}

// ---- Small messages -------------------------------------------------------------------

TEST(SmallMessages, FileBeginAndEndRoundTrip) {
  std::string p;
  EncodeFileBegin({7, 1ull << 40}, p);
  EXPECT_EQ(DecodeFileBegin(p), (FileBegin{7, 1ull << 40}));
  ExpectProtocolError("truncated", [&] { DecodeFileBegin(p.substr(0, 16)); });
  std::string restated;
  FileBegin r(7, 9, Timestamp{-5, 999'999'999});
  EncodeFileBegin(r, restated);
  EXPECT_EQ(DecodeFileBegin(restated), r);
  ExpectProtocolError("truncated", [&] { DecodeFileBegin(restated.substr(0, restated.size() - 1)); });
  restated.back() = '\x3c';  // the top byte of the nanoseconds: now above 999'999'999
  ExpectProtocolError("mtime nanoseconds", [&] { DecodeFileBegin(restated); });
  p[16] = 2;
  ExpectProtocolError("restated flag 2", [&] { DecodeFileBegin(p); });
  std::string negative;
  EncodeFileBegin({-1, 1}, negative);
  ExpectProtocolError("negative file index -1", [&] { DecodeFileBegin(negative); });
  std::string e;
  EncodeFileEnd({Hash128{11, 12}, kFileEndDiscard}, e);
  EXPECT_EQ(e.size(), 17u);
  EXPECT_EQ(DecodeFileEnd(e), (FileEnd{Hash128{11, 12}, kFileEndDiscard}));
  ExpectProtocolError("trailing", [&] { DecodeFileEnd(e + "!"); });
  ExpectProtocolError("truncated at flags", [&] { DecodeFileEnd(e.substr(0, 16)); });
  e[16] = kFileEndRetry;
  EXPECT_EQ(DecodeFileEnd(e).flags, kFileEndRetry);
  e[16] = kFileEndRetry | kFileEndDiscard;
  ExpectProtocolError("both discarded and retried", [&] { DecodeFileEnd(e); });
  e[16] = 4;
  ExpectProtocolError("unknown flags 4", [&] { DecodeFileEnd(e); });
}

TEST(SmallMessages, FileHoleRoundTripsAndIsNeverEmpty) {
  std::string out;
  EncodeFileHole(uint64_t{1} << 40, out);
  EXPECT_EQ(DecodeFileHole(out), uint64_t{1} << 40);
  ExpectProtocolError("trailing", [&] { DecodeFileHole(out + "x"); });
  out.clear();
  EncodeFileHole(0, out);
  ExpectProtocolError("empty hole", [&] { DecodeFileHole(out); });
}

TEST(SmallMessages, ErrorRoundTripsAndNeutralisesTerminalEscapes) {
  std::string p;
  EncodeError({ExitCode::Partial, "disk full on /backup"}, p);
  EXPECT_EQ(DecodeError(p), (ErrorMessage{ExitCode::Partial, "disk full on /backup"}));
  std::string evil;
  EncodeError({ExitCode::FileIo, "ok\x1b[2J\nnext\x7f"}, evil);
  EXPECT_EQ(DecodeError(evil).message, "ok?[2J?next?");
  std::string zero;
  EncodeError({ExitCode::Ok, "x"}, zero);
  ExpectProtocolError("exit code 0", [&] { DecodeError(zero); });
  std::string longer;
  ByteWriter w(longer);
  w.U8(12);
  w.Str16(std::string(4097, 'm'));
  ExpectProtocolError("message length 4097 exceeds limit 4096", [&] { DecodeError(longer); });
  std::string truncated_on_encode;
  EncodeError({ExitCode::FileIo, std::string(10000, 'x')}, truncated_on_encode);
  EXPECT_EQ(DecodeError(truncated_on_encode).message.size(), kMaxErrorMessageBytes);
}

TEST(SmallMessages, DataHelloRoundTrips) {
  DataHello h;
  for (size_t i = 0; i < h.token.size(); ++i) h.token[i] = static_cast<uint8_t>(i * 17);
  h.stream = 3;
  std::string p;
  EncodeDataHello(h, p);
  EXPECT_EQ(p.size(), 20u);
  EXPECT_EQ(DecodeDataHello(p), h);
  ExpectProtocolError("truncated at token", [&] { DecodeDataHello(p.substr(0, 10)); });
}

TEST(SmallMessages, StatsRoundTripAndRejectBadKeys) {
  Stats s = {{"files_sent", 12}, {"bytes_sent", 1ull << 50}};
  std::string p;
  EncodeStats(s, p);
  EXPECT_EQ(DecodeStats(p), s);
  auto with_keys = [](std::initializer_list<std::string_view> keys) {
    std::string out;
    ByteWriter w(out);
    w.U32(static_cast<uint32_t>(keys.size()));
    for (std::string_view k : keys) {
      w.Str8(k);
      w.U64(1);
    }
    return out;
  };
  ExpectProtocolError("duplicate stat \"a\"", [&] { DecodeStats(with_keys({"a", "a"})); });
  ExpectProtocolError("empty stat key", [&] { DecodeStats(with_keys({""})); });
  ExpectProtocolError("stat key length 65", [&] { DecodeStats(with_keys({std::string(65, 'k')})); });
  std::string many;
  ByteWriter(many).U32(kMaxStats + 1);
  ExpectProtocolError("exceeds limit 256", [&] { DecodeStats(many); });
}

// ---- Streams and framing over real fds -------------------------------------------------

struct SocketPair {
  std::unique_ptr<FdStream> a, b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a = std::make_unique<FdStream>(UniqueFd(fds[0]), "peer-a");
    b = std::make_unique<FdStream>(UniqueFd(fds[1]), "peer-b");
  }
};

TEST(Framing, RoundTripsFramesOfEverySizeOverASocket) {
  SocketPair sp;
  std::string big(kMaxFramePayload, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + (i >> 12));
  std::thread writer([&] {
    FrameWriter w(*sp.a);
    w.Write(FrameType::Hello, "");
    w.Write(FrameType::FileData, big);
    w.Write(FrameType::FileData, std::string_view("tiny"));
    sp.a->ShutdownWrite();
  });
  FrameReader r(*sp.b);
  auto f = r.Next();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, FrameType::Hello);
  EXPECT_TRUE(f->payload.empty());
  f = r.Next();
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->payload == big);
  Frame t = r.Expect(FrameType::FileData);
  EXPECT_EQ(t.payload, "tiny");
  EXPECT_FALSE(r.Next());  // clean end of stream between frames
  writer.join();
}

TEST(Framing, KeepalivesAreSkippedAndMustBeEmpty) {
  SocketPair sp;
  FrameWriter w(*sp.a);
  w.Write(FrameType::Keepalive, {});
  w.Write(FrameType::Keepalive, {});
  w.Write(FrameType::Done, {});
  w.Write(FrameType::Keepalive, "x");
  FrameReader r(*sp.b);
  EXPECT_EQ(r.Next()->type, FrameType::Done);
  ExpectProtocolError("Keepalive frame with a payload", [&] { r.Next(); });
}

TEST(Framing, EndOfStreamInsideAFrameIsAnError) {
  SocketPair sp;
  unsigned char h[kFrameHeaderBytes];
  EncodeFrameHeader(FrameType::FileData, 100, h);
  sp.a->WriteAll(h, sizeof h);
  sp.a->WriteAll("only ten..", 10);
  sp.a->ShutdownWrite();
  FrameReader r(*sp.b);
  ExpectError(ExitCode::SocketIo, "peer-b: connection closed by peer in the middle of a message (after 10 of 100 bytes)",
              [&] { r.Next(); });
  SocketPair sp2;
  sp2.a->WriteAll(h, 2);  // half a header
  sp2.a->ShutdownWrite();
  FrameReader r2(*sp2.b);
  ExpectError(ExitCode::SocketIo, "in the middle of a message", [&] { r2.Next(); });
}

TEST(Framing, OversizedHeaderIsRejectedBeforeAnyAllocation) {
  SocketPair sp;
  const unsigned char h[] = {static_cast<uint8_t>(FrameType::FileData), 0xff, 0xff, 0xff, 0x7f};
  sp.a->WriteAll(h, sizeof h);
  FrameReader r(*sp.b);
  ExpectProtocolError("exceeds the 4194304-byte limit", [&] { r.Next(); });
}

TEST(Framing, ExpectTurnsAPeerErrorFrameIntoItsError) {
  SocketPair sp;
  std::string p;
  EncodeError({ExitCode::Locked, "another ktsync holds /dst"}, p);
  FrameWriter(*sp.a).Write(FrameType::Error, p);
  FrameWriter(*sp.a).Write(FrameType::Done, "");
  FrameReader r(*sp.b);
  ExpectError(ExitCode::Locked, "peer-b: another ktsync holds /dst", [&] { r.Expect(FrameType::Result); });
  ExpectProtocolError("expected Result from peer-b, got Done", [&] { r.Expect(FrameType::Result); });
  sp.a->ShutdownWrite();
  ExpectError(ExitCode::SocketIo, "closed by peer while waiting for Result", [&] { r.Expect(FrameType::Result); });
}

TEST(FdStream, WritingToAPipeWithNoReaderIsAnErrorNotADeath) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]);
  FdStream s(UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)), UniqueFd(fds[1]), "ssh nas");
  read_end.reset();
  ExpectError(ExitCode::SocketIo, "ssh nas: sending: Broken pipe", [&] { s.WriteAll("x", 1); });
  s.ShutdownWrite();
  ExpectError(ExitCode::SocketIo, "after the sending side was shut down", [&] { s.WriteAll("x", 1); });
}

TEST(FdStream, SocketTimeoutBecomesATimeoutError) {
  SocketPair sp;
  timeval tv{0, 100 * 1000};
  ASSERT_EQ(setsockopt(sp.b->read_fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  char buf[4];
  ExpectError(ExitCode::Timeout, "peer-b: timed out receiving", [&] { sp.b->ReadSome(buf, sizeof buf); });
}

TEST(FdStream, WriteVHandlesManyPiecesAndPartialWrites) {
  SocketPair sp;
  std::vector<std::string> pieces;
  std::vector<iovec> iov;
  std::string expect;
  for (int i = 0; i < 300; ++i) pieces.push_back(std::string(static_cast<size_t>(i * 97 % 5000), static_cast<char>('a' + i % 26)));
  for (auto& p : pieces) {
    iov.push_back({p.data(), p.size()});
    expect += p;
  }
  std::thread writer([&] {
    sp.a->WriteV(iov.data(), static_cast<int>(iov.size()));
    sp.a->ShutdownWrite();
  });
  std::string got(expect.size(), '\0');
  sp.b->ReadExact(got.data(), got.size());
  char extra;
  EXPECT_EQ(sp.b->ReadSome(&extra, 1), 0u);
  writer.join();
  EXPECT_TRUE(got == expect);
}

TEST(FdStream, SendFileSendsTheRangeAndReportsAShortFile) {
  char tmpl[] = "/tmp/wire_test.XXXXXX";
  UniqueFd file(mkstemp(tmpl));
  ASSERT_TRUE(file);
  unlink(tmpl);
  std::string content(300000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i % 251);
  ASSERT_EQ(write(file.get(), content.data(), content.size()), static_cast<ssize_t>(content.size()));
  SocketPair sp;
  uint64_t sent = 0;
  std::thread writer([&] {
    sent = sp.a->SendFile(file.get(), 1000, 299000 + 50);  // 50 bytes past the end
    sp.a->ShutdownWrite();
  });
  std::string got(299000, '\0');
  sp.b->ReadExact(got.data(), got.size());
  writer.join();
  EXPECT_EQ(sent, 299000u);
  EXPECT_TRUE(got == content.substr(1000));
}

}  // namespace
}  // namespace ktsync
