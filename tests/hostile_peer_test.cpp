// links: ktsync_transfer
// Hostile peers against the REAL ktsync binary ($KTSYNC_BIN, default: the ktsync built next
// to this test, else /work/main/build/ktsync), speaking protocol v3 (docs/protocol.md).
//
// * Hostile client: the test spawns `ktsync serve --stdio` on pipes and speaks frames to it
//   (built with the wire encoders, or byte by byte where the encoders refuse the attack):
//   as the destination of a pull (it asks for hashes and files by ordinal, grants credit)
//   and as the source of a push (it lists entries and sends the files asked for).
// * Hostile server: the test runs `ktsync mirror -e 'env KTSYNC_FAKE_PEER=CASE <this test>'`
//   with fakehost:/src (pull: the fake is the SOURCE) or fakehost:/dst (push: the fake is
//   the DESTINATION), so the "ssh" the client starts is this very executable, which (before
//   gtest's main, see FakePeerHook) speaks a scripted hostile server on stdin/stdout. The
//   client passes --no-encryption, so the fake's data connection is plain TCP.
//
// Every case checks: the documented exit code (never a signal, never a hang), a one-line
// message without control bytes, nothing outside DST changed (a canary tree and the DST's
// siblings are snapshotted byte for byte), no temp file left in DST, and every file in DST
// holds either its old content or the verified new one. Both processes run under
// RLIMIT_AS = 2 GiB (not under ASan), so an attempt to honour a 4 GiB length or a 2^32 count
// would end in "out of memory" (exit 11), not in the expected 12.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "transfer/byte_io.h"
#include "transfer/dest_channel.h"
#include "transfer/net.h"
#include "transfer/session_messages.h"
#include "transfer/wire.h"
#include "util/hash.h"
#include "util/unique_fd.h"

#include "temp_dir.h"

namespace fs = std::filesystem;

namespace ktsync {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kIoTimeoutMs = 20000;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// ---- raw I/O -------------------------------------------------------------------------

// Polls at least once, so a deadline of now asks "is anything there already?".
bool WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
    if (r == 0 && left == 0) return false;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Exactly n bytes, or false (EOF, error, timeout).
bool ReadFully(int fd, void* buf, size_t n, int timeout_ms = kIoTimeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    if (!WaitReadable(fd, deadline)) return false;
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

// False when the peer is gone (SIGPIPE is ignored in every process of this test).
bool WriteFully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t r = ::write(fd, data.data(), data.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    data.remove_prefix(static_cast<size_t>(r));
  }
  return true;
}

std::string Header(uint8_t type, uint32_t length) {
  std::string h(kFrameHeaderBytes, '\0');
  h[0] = static_cast<char>(type);
  for (int i = 0; i < 4; ++i) h[1 + i] = static_cast<char>(length >> (8 * i));
  return h;
}

bool SendFrame(int fd, FrameType t, std::string_view payload) {
  return WriteFully(fd, Header(static_cast<uint8_t>(t), static_cast<uint32_t>(payload.size())) + std::string(payload));
}

struct RawFrame {
  FrameType type;
  std::string payload;
};

// nullopt on EOF, timeout or a frame no honest ktsync would send.
std::optional<RawFrame> ReadFrame(int fd, int timeout_ms = kIoTimeoutMs) {
  unsigned char h[kFrameHeaderBytes];
  if (!ReadFully(fd, h, sizeof h, timeout_ms)) return std::nullopt;
  FrameHeader fh;
  try {
    fh = DecodeFrameHeader(h);
  } catch (const Error&) {
    return std::nullopt;
  }
  RawFrame f{fh.type, std::string(fh.length, '\0')};
  if (!ReadFully(fd, f.payload.data(), fh.length, timeout_ms)) return std::nullopt;
  return f;
}

// What an Encode* function makes of `v`.
template <typename T>
std::string Payload(void (*encode)(const T&, std::string&), const T& v) {
  std::string out;
  encode(v, out);
  return out;
}

// A manifest stream's entries, up to its ManifestEnd; nullopt when anything else comes.
std::optional<Manifest> ReadManifest(int fd) {
  ManifestDecoder decoder;
  EntryBatch batch;
  Manifest all;
  for (;;) {
    std::optional<RawFrame> f = ReadFrame(fd);
    if (f && f->type == FrameType::ManifestEnd) return all;
    if (!f || f->type != FrameType::ManifestBatch) return std::nullopt;
    decoder.Decode(f->payload, batch);
    std::move(batch.entries.begin(), batch.entries.end(), std::back_inserter(all));
  }
}

std::string I64Payload(int64_t v) {
  std::string out;
  ByteWriter(out).I64(v);
  return out;
}

std::string IndexPayload(const std::vector<int64_t>& indices) {
  std::string out;
  EncodeIndexList(indices, out);
  return out;
}

std::string HashReplyPayload(const std::vector<HashReplyItem>& items) {
  std::string out;
  EncodeHashReply(items, out);
  return out;
}

// An Item: a push server's report of a file it created.
std::string NewFileItem(std::string path) {
  return Payload(EncodeItem, ItemView{ActionKind::SendFile, kChNew, EntryType::File, 1, 0, std::move(path), "", ""});
}

std::string HelloPayload(uint16_t version = kProtocolVersion) { return Payload(EncodeHello, Hello{version, 0}); }
std::string ResultPayload() { return Payload(EncodeStats, Stats{{"entries", 3}}); }

// ---- entries as raw bytes (the encoder refuses unsafe paths, an attacker does not) ------

constexpr Timestamp kMtime = {1'600'000'000, 123'456'789};

struct RawEntry {
  std::string path;
  EntryType type = EntryType::File;
  std::string content = {};           // files
  std::string target = {};            // symlinks
  uint32_t nlink = 1;                 // > 1: announced as a file with more links (a possible leader)
  int64_t leader = -1;                // != -1: announced as a hard-link follower of that ordinal
  std::string xattr = {};             // non-empty: the value of one attribute, user.big
};

RawEntry Dir(std::string path) { return {std::move(path), EntryType::Dir}; }
RawEntry File(std::string path, std::string content) { return {std::move(path), EntryType::File, std::move(content)}; }
RawEntry Link(std::string path, std::string target) {
  return {std::move(path), EntryType::Symlink, "", std::move(target)};
}
RawEntry Leader(std::string path, std::string content, uint32_t nlink) {
  return {std::move(path), EntryType::File, std::move(content), "", nlink};
}
RawEntry Follower(std::string path, std::string content, int64_t leader) {
  return {std::move(path), EntryType::File, std::move(content), "", 1, leader};
}

// Entry flag bits (docs/protocol.md): bit 2 nlink follows, bit 3 the leader's ordinal follows.
constexpr uint8_t kMultiLink = 4;
constexpr uint8_t kFollower = 8;
constexpr uint8_t kXattrs = 16;

std::string EncodeRawEntries(const std::vector<RawEntry>& es, std::optional<uint32_t> count = {}) {
  std::string out;
  ByteWriter w(out);
  w.U32(count ? *count : static_cast<uint32_t>(es.size()));
  for (const RawEntry& e : es) {
    w.Str16(e.path);
    w.U8(static_cast<uint8_t>(e.type));
    w.U32(e.type == EntryType::Dir ? 0755 : 0644);
    w.U32(static_cast<uint32_t>(::getuid()));
    w.U32(static_cast<uint32_t>(::getgid()));
    w.U64(e.type == EntryType::File ? e.content.size() : 0);
    w.I64(kMtime.sec);
    w.U32(kMtime.nsec);
    if (e.type == EntryType::Symlink) w.Str16(e.target);
    w.U8((e.nlink > 1 ? kMultiLink : 0) | (e.leader != -1 ? kFollower : 0) | (e.xattr.empty() ? 0 : kXattrs));  // no hash
    if (e.nlink > 1) w.U32(e.nlink);
    if (e.leader != -1) w.I64(e.leader);
    if (!e.xattr.empty()) {
      w.U32(1);
      w.Str8("user.big");
      w.U32(static_cast<uint32_t>(e.xattr.size()));
      w.Raw(e.xattr.data(), e.xattr.size());
    }
  }
  return out;
}

// Entries [first, first + n) of a flat stream: the root, then one-byte files "e000000001",
// ... in path order.
std::vector<RawEntry> FlatEntries(int64_t first, int64_t n) {
  std::vector<RawEntry> es;
  es.reserve(static_cast<size_t>(n));
  char name[32];
  for (int64_t i = first; i < first + n; ++i) {
    std::snprintf(name, sizeof name, "e%09lld", static_cast<long long>(i));
    es.push_back(i == 0 ? Dir("") : File(name, "x"));
  }
  return es;
}

Hash128 HashOf(std::string_view s) { return HashBytes(s.data(), s.size()); }

std::string FileBeginPayload(int64_t index, uint64_t size) { return Payload(EncodeFileBegin, FileBegin{index, size}); }
std::string FileEndPayload(Hash128 h, uint8_t flags = 0) { return Payload(EncodeFileEnd, FileEnd{h, flags}); }

// FileBegin, FileData, FileEnd on a data connection, with `hash` in FileEnd.
void SendFileFrames(int fd, int64_t index, std::string_view content, Hash128 hash) {
  SendFrame(fd, FrameType::FileBegin, FileBeginPayload(index, content.size()));
  SendFrame(fd, FrameType::FileData, content);
  SendFrame(fd, FrameType::FileEnd, FileEndPayload(hash));
}

// A file of `size` bytes given up on after `partial`, as a sender does when it changes
// while read: FileEnd with the discard flag.
void SendDiscarded(int fd, int64_t index, uint64_t size, std::string_view partial) {
  SendFrame(fd, FrameType::FileBegin, FileBeginPayload(index, size));
  SendFrame(fd, FrameType::FileData, partial);
  SendFrame(fd, FrameType::FileEnd, FileEndPayload(HashOf(partial), kFileEndDiscard));
}

// ---- the fake server, run inside the "ssh" child -------------------------------------

// What the hostile server tells the client. A pull's DST starts with "f" (old content,
// another size, so it is asked for) and "keep" (not in SRC: deleted only after a clean run);
// a push's SRC holds "f" and "g" with the new contents (ordinals 1 and 2).
const std::string kOldF = "old version of f, longer than the new one\n";
const std::string kNewF = "new f\n";
const std::string kNewG = "new g content\n";
const std::string kOldKeep = "kept unless the run is clean\n";

std::vector<RawEntry> GoodManifest() { return {Dir(""), File("f", kNewF), File("g", kNewG)}; }

class FakeServer {
 public:
  // Hello both ways, Request, Ready with a data port of our own, and the client's route
  // (direct: it reached that port).
  void Handshake() {
    Expect(FrameType::Hello);
    Send(FrameType::Hello, HelloPayload());
    SessionRequest req = DecodeRequest(Expect(FrameType::Request).payload);
    listener_ = Listen("127.0.0.1", 0);
    SessionReady r;
    r.data_port = LocalPort(listener_.get());
    r.data_host = "127.0.0.1";
    Send(FrameType::Ready, Payload(EncodeReady, r));
    DataRoute route = DecodeDataRoute(Expect(FrameType::DataRoute).payload);
    if (route != (req.spec.dry_run ? DataRoute::None : DataRoute::Direct)) Fail("unexpected data route");
  }

  // ---- pull: the fake is the source

  void SendManifest(const std::vector<RawEntry>& es) {
    Send(FrameType::ManifestBatch, EncodeRawEntries(es));
    Send(FrameType::ManifestEnd, I64Payload(static_cast<int64_t>(es.size())));
  }

  // The first `n` ordinals the client asks for. Its Done only comes once they arrived, and
  // its Credit frames need no answer.
  std::vector<int64_t> ReadSendList(size_t n) {
    std::vector<int64_t> idx;
    while (idx.size() < n) {
      RawFrame f = Next();
      if (f.type == FrameType::Credit) continue;
      if (f.type != FrameType::SendList) Fail("expected SendList, got " + std::string(FrameTypeName(f.type)));
      DecodeIndexList(f.payload, idx);
    }
    return idx;
  }

  // Reads the client's requests up to its Done: it will ask for nothing more.
  void AwaitRequestsEnd() {
    for (;;) {
      RawFrame f = Next();
      if (f.type == FrameType::Done) return;
      if (f.type != FrameType::Credit && f.type != FrameType::SendList)
        Fail("expected the client's Done, got " + std::string(FrameTypeName(f.type)));
    }
  }

  // Skips the client's Credit frames.
  RawFrame NextRequest() {
    for (;;) {
      RawFrame f = Next();
      if (f.type != FrameType::Credit) return f;
    }
  }

  void AcceptData() {
    data_ = AcceptWithTimeout(listener_.get(), kIoTimeoutMs);
    if (!data_) Fail("no data connection");
    auto h = ReadFrame(data_.get());
    if (!h || h->type != FrameType::DataHello) Fail("no DataHello");
  }

  void DataFrame(FrameType t, std::string_view payload) { SendFrame(data_.get(), t, payload); }
  void DataRaw(std::string_view bytes) { WriteFully(data_.get(), bytes); }
  // FileBegin, FileData, FileEnd; the hash in FileEnd is the content's unless one is given.
  void SendFile(int64_t index, std::string_view content, std::optional<Hash128> hash = {}) {
    SendFileFrames(data_.get(), index, content, hash.value_or(HashOf(content)));
  }
  int data() const { return data_.get(); }

  // Ends the data stream, waits for the receiver to close it, then Reports, Result and the
  // client's Done.
  void FinishClean(const std::vector<SessionReport>& reports = {}) {
    AwaitRequestsEnd();  // ending the data connection before it is a protocol error
    DataFrame(FrameType::Done, {});
    ::shutdown(data_.get(), SHUT_WR);
    char sink[64];
    while (ReadFully(data_.get(), sink, 1)) {
    }
    SendEnd(reports);
    DrainControl();
  }

  // ---- push: the fake is the destination

  // The client's entries.
  Manifest ReadManifest() {
    std::optional<Manifest> m = ktsync::ReadManifest(0);
    if (!m) Fail("no manifest from the client");
    return *m;
  }

  // The files the client sends, up to its Done on the data connection: each must be one of
  // `want` (ordinal -> content), whole, with its hash.
  void ReceiveFiles(const std::map<int64_t, std::string>& want) {
    AcceptData();
    for (;;) {
      auto f = ReadFrame(data_.get());
      if (!f) Fail("data connection ended without Done");
      if (f->type == FrameType::Done) return data_.reset();  // the sender waits for our close
      if (f->type != FrameType::FileBegin) Fail("expected FileBegin, got " + std::string(FrameTypeName(f->type)));
      int64_t index = DecodeFileBegin(f->payload).index;
      std::string got;
      std::optional<RawFrame> d;
      while ((d = ReadFrame(data_.get())) && d->type == FrameType::FileData) got += d->payload;
      auto it = want.find(index);
      if (!d || d->type != FrameType::FileEnd || DecodeFileEnd(d->payload).hash != HashOf(got) || it == want.end() ||
          got != it->second) {
        Fail("file #" + std::to_string(index) + " is not what was listed");
      }
    }
  }

  // The client's Reports and Result, then ours, then its Done.
  void EndPush(const std::vector<SessionReport>& reports = {}) {
    for (RawFrame f = NextRequest(); f.type != FrameType::Result; f = NextRequest()) {
      if (f.type != FrameType::Report) Fail("expected Report or Result, got " + std::string(FrameTypeName(f.type)));
    }
    SendEnd(reports);
    Expect(FrameType::Done);
    DrainControl();
  }

  // ---- both

  void SendEnd(const std::vector<SessionReport>& reports) {
    for (const SessionReport& r : reports) Send(FrameType::Report, Payload(EncodeReport, r));
    Send(FrameType::Result, ResultPayload());
  }

  // Reads control frames until the client hangs up (it exits after a protocol error).
  void DrainControl() {
    while (ReadFrame(0)) {
    }
  }

  void Send(FrameType t, std::string_view payload) { SendFrame(1, t, payload); }
  void SendRaw(std::string_view bytes) { WriteFully(1, bytes); }

  RawFrame Next() {
    auto f = ReadFrame(0);
    if (!f) Fail("client closed the control channel");
    return *f;
  }
  RawFrame Expect(FrameType t) {
    RawFrame f = Next();
    if (f.type != t) Fail(std::string("expected ") + FrameTypeName(t) + ", got " + FrameTypeName(f.type));
    return f;
  }

  [[noreturn]] static void Fail(const std::string& why) {
    std::string m = "fake peer: " + why + "\n";
    WriteFully(2, m);
    ::_exit(3);
  }

 private:
  UniqueFd listener_;
  UniqueFd data_;
};

struct ClientCase {
  std::string name;
  int want_exit;
  std::function<void(FakeServer&)> peer;
  std::string want_message = {};                      // expected in stderr
  std::map<std::string, std::string> new_files = {};  // pull: paths the run may create, with content
  bool dst_symlink_to_canary = false;                 // pull: DST/s -> ../canary before the run
  bool push = false;                                  // the client pushes SRC; the fake holds DST
};

// Pull: the fake lists `es` and sends each of the first `asked` files the client asks for.
void ServeHonestly(FakeServer& s, const std::vector<RawEntry>& es, size_t asked,
                   const std::vector<SessionReport>& reports = {}) {
  s.Handshake();
  s.SendManifest(es);
  std::vector<int64_t> want = s.ReadSendList(asked);
  s.AcceptData();
  for (int64_t i : want) s.SendFile(i, es.at(static_cast<size_t>(i)).content);
  s.FinishClean(reports);
}

// Pull: a clean manifest; `data` misbehaves on the data connection once the client asked
// for {1: f, 2: g}.
ClientCase BadData(std::string name, int want, std::function<void(FakeServer&)> data, std::string msg,
                   std::map<std::string, std::string> may_create = {}) {
  return {std::move(name), want, [data](FakeServer& s) {
            s.Handshake();
            s.SendManifest(GoodManifest());
            if (s.ReadSendList(2) != std::vector<int64_t>{1, 2}) FakeServer::Fail("unexpected SendList");
            s.AcceptData();
            data(s);
            s.DrainControl();
          }, std::move(msg), std::move(may_create)};
}

// Pull: once greeted, the fake misbehaves on the control channel (`then`).
ClientCase BadControl(std::string name, int want, std::function<void(FakeServer&)> then, std::string msg) {
  return {std::move(name), want, [then](FakeServer& s) {
            s.Handshake();
            then(s);
            s.DrainControl();
          }, std::move(msg)};
}

// Pull: the manifest is hostile; the client must refuse it before it changes anything.
ClientCase BadManifest(std::string name, std::vector<RawEntry> es, std::string msg) {
  return BadControl(std::move(name), 12, [es](FakeServer& s) { s.SendManifest(es); }, std::move(msg));
}

// Push of SRC {"", f, g}: `then` misbehaves once the fake destination has read the list.
ClientCase BadDestination(std::string name, int want, std::function<void(FakeServer&)> then, std::string msg) {
  return {std::move(name), want, [then](FakeServer& s) {
            s.Handshake();
            if (s.ReadManifest().size() != 3) FakeServer::Fail("unexpected SRC listing");
            then(s);
            s.DrainControl();
          }, std::move(msg), {}, false, /*push=*/true};
}

// Control bytes a terminal acts on, in a peer's text.
const std::string kEscapes = "\x1b]2;owned\x07\x1b[2Jcannot \xc2\x9b" "1mread g\x9b" "0m";

std::vector<ClientCase> PullCases(const std::string& canary) {
  std::vector<ClientCase> v;
  // The baseline: the fake is a correct source, and the run is clean.
  v.push_back({"honest", 0, [](FakeServer& s) { ServeHonestly(s, GoodManifest(), 2); }, "",
               {{"f", kNewF}, {"g", kNewG}}});
  // Names that would leave DST if joined to its path (DST's sibling is the canary dir).
  v.push_back(BadManifest("dotdot_name", {Dir(""), File("../canary/pwned", "x")}, "unsafe path"));
  v.push_back(BadManifest("dotdot_only", {Dir(""), Dir("..")}, "unsafe path"));
  v.push_back(BadManifest("absolute_name", {Dir(""), File(canary + "/pwned", "x")}, "unsafe path"));
  v.push_back(BadManifest("inner_dotdot", {Dir(""), Dir("a"), File("a/../../canary/pwned", "x")}, "unsafe path"));
  v.push_back(BadManifest("empty_component", {Dir(""), Dir("a"), File("a//pwned", "x")}, "unsafe path"));
  v.push_back(BadManifest("dot_component", {Dir(""), Dir("a"), File("a/./pwned", "x")}, "unsafe path"));
  v.push_back(BadManifest("trailing_slash", {Dir(""), Dir("a/")}, "unsafe path"));
  v.push_back(BadManifest("nul_in_name", {Dir(""), File(std::string("a\0/../../x", 10), "x")}, "unsafe path"));
  v.push_back(BadManifest("second_root", {Dir(""), Dir("")}, "out of order"));
  v.push_back(BadManifest("root_not_first", {File("f", "x")}, "not the root"));
  v.push_back(BadManifest("duplicate_entry", {Dir(""), File("f", "1"), File("f", "2")}, "duplicated"));
  v.push_back(BadManifest("unsorted", {Dir(""), File("g", "1"), File("f", "2")}, "out of order"));
  v.push_back(BadManifest("parent_missing", {Dir(""), File("nodir/pwned", "x")}, "parent"));
  // "s" is a symlink to the canary; a client that trusted "s/pwned" would write through it.
  v.push_back(BadManifest("child_of_symlink", {Dir(""), Link("s", "../canary"), File("s/pwned", "x")}, "parent"));
  v.push_back(BadManifest("child_of_file", {Dir(""), File("f", "x"), File("f/pwned", "x")}, "parent"));
  v.push_back(BadManifest("link_leader_after_follower", {Dir(""), File("f", "x"), Follower("g", "y", 7)}, "leader"));
  v.push_back(BadManifest("link_leader_is_itself", {Dir(""), File("f", "x"), Follower("g", "y", 2)}, "leader"));
  v.push_back(BadManifest("negative_link_leader", {Dir(""), File("f", "x"), Follower("g", "y", -5)}, "leader"));
  v.push_back(BadManifest("leads_and_follows", {Dir(""), Leader("f", "x", 2), {"g", EntryType::File, "x", "", 2, 1}},
                          "both leads and follows"));
  v.push_back(BadManifest("directory_with_links", {Dir(""), {"d", EntryType::Dir, "", "", 1, 0}}, "has links"));
  v.push_back(BadManifest("empty_symlink_target", {Dir(""), Link("s", "")}, "empty symlink target"));
  // 32768 entries are allowed before the first Credit; one more is an attempt to make the
  // client hold what it never asked for.
  v.push_back(BadControl("entries_beyond_the_initial_credit", 12, [](FakeServer& s) {
                s.Send(FrameType::ManifestBatch, EncodeRawEntries(FlatEntries(0, kInitialCredit + 1)));
              }, "beyond the 32768"));
  v.push_back(BadControl("huge_entry_count", 12, [](FakeServer& s) {
                s.Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}, 0xFFFFFFFFu));
              }, "count"));
  v.push_back(BadControl("huge_frame_length", 12, [](FakeServer& s) {
                s.SendRaw(Header(static_cast<uint8_t>(FrameType::ManifestBatch), 0xFFFFFFFFu));
              }, "limit"));
  v.push_back(BadControl("unknown_frame_type", 12, [](FakeServer& s) { s.SendRaw(Header(200, 0)); },
                         "unknown frame type"));
  // A v2 server's plan frames (7: PlanBatch) are unknown to v3.
  v.push_back(BadControl("v2_plan_frame", 12, [](FakeServer& s) { s.SendRaw(Header(7, 0)); }, "unknown frame type 7"));
  v.push_back(BadControl("manifest_count_mismatch", 12, [](FakeServer& s) {
                s.Send(FrameType::ManifestBatch, EncodeRawEntries(GoodManifest()));
                s.Send(FrameType::ManifestEnd, I64Payload(2));
              }, "count"));
  // Directories only: the client asks for no file, so it is waiting for the source's end.
  v.push_back(BadControl("entries_after_the_end", 12, [](FakeServer& s) {
                s.SendManifest({Dir(""), Dir("x")});
                s.Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("y")}));
              }, "after the end"));
  v.push_back(BadControl("manifest_ended_twice", 12, [](FakeServer& s) {
                s.SendManifest({Dir(""), Dir("x")});
                s.Send(FrameType::ManifestEnd, I64Payload(2));
              }, "ended twice"));
  v.push_back(BadControl("wrong_phase_file_data_on_control", 12, [](FakeServer& s) {
                s.Send(FrameType::FileBegin, FileBeginPayload(0, 0));
              }, "unexpected FileBegin"));
  v.push_back(BadControl("wrong_phase_result_before_manifest", 12, [](FakeServer& s) {
                s.Send(FrameType::Result, ResultPayload());
              }, "Result"));
  v.push_back(BadControl("item_from_a_source", 12, [](FakeServer& s) {
                s.Send(FrameType::Item, NewFileItem("f"));
              }, "unexpected Item"));
  v.push_back({"truncated_control_stream", 10, [](FakeServer& s) {
                 s.Handshake();
                 std::string batch = EncodeRawEntries(GoodManifest());
                 s.SendRaw(Header(static_cast<uint8_t>(FrameType::ManifestBatch), static_cast<uint32_t>(batch.size())) +
                           batch.substr(0, batch.size() / 2));
                 ::_exit(0);
               }, "closed"});
  // The same size and another mtime make the client ask for f's hash; the reply is for
  // another entry.
  v.push_back(BadControl("hash_reply_for_another_entry", 12, [](FakeServer& s) {
                s.SendManifest({Dir(""), File("f", std::string(kOldF.size(), 'z'))});
                if (s.NextRequest().type != FrameType::HashRequest) FakeServer::Fail("expected HashRequest");
                s.Send(FrameType::HashReply, HashReplyPayload({{99, HashOf("x")}}));
              }, "out of order"));
  v.push_back(BadControl("hash_reply_never_asked_for", 12, [](FakeServer& s) {
                s.SendManifest({Dir(""), Dir("x")});
                s.Send(FrameType::HashReply, HashReplyPayload({{1, HashOf("x")}}));
              }, "out of order"));
  v.push_back(BadData("file_not_requested", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(0, 0));  // the root dir
              }, "not asked for"));
  v.push_back(BadData("file_index_beyond_the_list", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1000000, 1));
              }, "not asked for"));
  v.push_back(BadData("file_index_negative", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(-2, 1));
              }, "negative file index"));
  v.push_back(BadData("file_sent_twice", 12, [](FakeServer& s) {
                s.SendFile(1, kNewF);
                s.SendFile(1, kNewF);
              }, "twice", {{"f", kNewF}}));
  v.push_back(BadData("size_differs_from_manifest", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, 1u << 30));
              }, "announced size"));
  v.push_back(BadData("file_longer_than_announced", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                s.DataFrame(FrameType::FileData, kNewF + "EXTRA BYTES");
                s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF + "EXTRA BYTES")));
              }, "longer than announced"));
  v.push_back(BadData("file_shorter_than_announced", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                s.DataFrame(FrameType::FileData, kNewF.substr(0, 2));
                s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF.substr(0, 2))));
              }, "shorter than announced"));
  v.push_back(BadData("huge_data_frame", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                s.DataRaw(Header(static_cast<uint8_t>(FrameType::FileData), 0xFFFFFFF0u));
              }, "limit"));
  v.push_back(BadData("unknown_file_end_flags", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                s.DataFrame(FrameType::FileData, kNewF);
                s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF), 0x80));
              }, "flags"));
  // Content that does not match FileEnd's hash: f fails (23), g still arrives, f keeps its
  // old content and "keep" is not deleted (an error happened).
  v.push_back(BadData("wrong_hash", 23, [](FakeServer& s) {
                s.SendFile(1, std::string(kNewF.size(), 'E'), HashOf(kNewF));
                s.SendFile(2, kNewG);
                s.FinishClean();
              }, "f", {{"g", kNewG}}));
  // The source "forgets" f and reports nothing: the run must not look clean, and since an
  // expected file is missing, nothing may be deleted.
  v.push_back(BadData("silently_skips_a_file", 23, [](FakeServer& s) {
                s.SendFile(2, kNewG);
                s.FinishClean();
              }, "never sent", {{"g", kNewG}}));
  // The source gives up on f (discard flag: it changed while being read) and says so.
  v.push_back(BadData("discarded_file_is_reported", 24, [](FakeServer& s) {
                SendDiscarded(s.data(), 1, kNewF.size(), kNewF);
                s.SendFile(2, kNewG);
                s.FinishClean({{SessionReport::Vanished, "f", "f: changed while being sent"}});
              }, "changed while being sent", {{"g", kNewG}}));
  // The same, but the source keeps quiet about it: f is still not mirrored, so the run is
  // not clean and "keep" stays.
  v.push_back(BadData("discarded_file_unreported", 23, [](FakeServer& s) {
                SendDiscarded(s.data(), 1, kNewF.size(), kNewF.substr(0, 2));
                s.SendFile(2, kNewG);
                s.FinishClean();
              }, "discarded by the source without a reason", {{"g", kNewG}}));
  v.push_back(BadData("truncated_mid_file", 10, [](FakeServer& s) {
                s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                s.DataFrame(FrameType::FileData, kNewF.substr(0, 3));
                ::_exit(0);
              }, ""));  // whichever connection the client finds closed first
  v.push_back(BadData("data_frame_outside_file", 12, [](FakeServer& s) {
                s.DataFrame(FrameType::FileData, "stray");
              }, "outside a file"));
  // A protocol error on the control channel while files are asked for and the data
  // connection idles: the client must act on it, not wait for the files.
  v.push_back(BadData("garbage_on_control_while_files_are_due", 12, [](FakeServer& s) {
                s.SendRaw(Header(200, 0));
              }, "unknown frame type"));
  v.push_back(BadControl("error_frame_with_escapes", 11, [](FakeServer& s) {
                ErrorMessage m{ExitCode::FileIo, "\x1b[2J\x1b]0;owned\x07red\r\nline two\x9b" "31m"};
                s.Send(FrameType::Error, Payload(EncodeError, m));
              }, "red"));
  v.push_back(BadControl("error_frame_exit_code_zero", 12, [](FakeServer& s) {
                s.Send(FrameType::Error, std::string("\0\2\0ok", 5));
              }, "exit code 0"));
  // Peer text reaches the user's terminal in Report frames and in messages naming the
  // peer's file names: escape sequences in either must arrive defused.
  v.push_back({"report_with_escapes", 23, [](FakeServer& s) {
                 ServeHonestly(s, GoodManifest(), 2, {{SessionReport::Failed, "g\x1b[8m", kEscapes}});
               }, "read g", {{"f", kNewF}, {"g", kNewG}}});
  v.push_back({"escape_in_failing_file_name", 23, [](FakeServer& s) {
                 s.Handshake();
                 s.SendManifest({Dir(""), File("\x1b]2;owned\x07\x1b[2J", "12345")});
                 s.ReadSendList(1);
                 s.AcceptData();
                 s.SendFile(1, "EVIL!", HashOf("12345"));
                 s.FinishClean();
               }, "owned"});
  // A legitimate tree whose symlink points outside: it is created verbatim and never
  // followed; DST/s (a symlink into the canary) is replaced by a real dir before s/x lands.
  v.push_back({"replace_symlink_to_outside", 0, [](FakeServer& s) {
                 ServeHonestly(s, {Dir(""), File("f", kNewF), Link("out", "../canary/secret"), Dir("s"),
                                   File("s/pwned", "written beneath DST\n")}, 2);
               }, "", {{"f", kNewF}, {"s/pwned", "written beneath DST\n"}}, true});
  // A follower whose "leader" is no file with more links (a plain file, the root) is copied
  // as a file of its own, never linked to something unchecked.
  v.push_back({"follower_of_a_plain_file", 0, [](FakeServer& s) {
                 ServeHonestly(s, {Dir(""), File("f", kNewF), Follower("g", kNewG, 1)}, 2);
               }, "", {{"f", kNewF}, {"g", kNewG}}});
  v.push_back({"follower_of_the_root", 0, [](FakeServer& s) {
                 ServeHonestly(s, {Dir(""), File("f", kNewF), Follower("g", kNewG, 0)}, 2);
               }, "", {{"f", kNewF}, {"g", kNewG}}});
  return v;
}

std::vector<ClientCase> HandshakeCases() {
  std::vector<ClientCase> v;
  auto greet = [](std::string name, int want, std::string hello, std::string msg) {
    return ClientCase{std::move(name), want, [hello](FakeServer& s) {
                        s.Expect(FrameType::Hello);
                        s.SendRaw(hello);
                        s.DrainControl();
                      }, std::move(msg)};
  };
  std::string bad_magic = HelloPayload();
  bad_magic[0] = 'X';
  v.push_back(greet("bad_magic", 5, Header(1, static_cast<uint32_t>(bad_magic.size())) + bad_magic, "did not greet"));
  std::string v2 = HelloPayload(2);
  v.push_back(greet("older_protocol_version", 2, Header(1, static_cast<uint32_t>(v2.size())) + v2, "protocol v2"));
  v.push_back(greet("shell_banner_instead_of_hello", 12, "Welcome to fakehost!\n", "does the remote shell print"));
  return v;
}

std::vector<ClientCase> PushCases() {
  std::vector<ClientCase> v;
  // The baseline: the fake is a correct destination, and the run is clean.
  v.push_back(BadDestination("push_honest", 0, [](FakeServer& s) {
                s.Send(FrameType::SendList, IndexPayload({1, 2}));
                s.Send(FrameType::Done, {});
                s.ReceiveFiles({{1, kNewF}, {2, kNewG}});
                s.EndPush();
              }, ""));
  v.push_back(BadDestination("push_asks_for_a_directory", 12, [](FakeServer& s) {
                s.Send(FrameType::SendList, IndexPayload({0}));
              }, "not a regular file"));
  v.push_back(BadDestination("push_asks_beyond_the_list", 12, [](FakeServer& s) {
                s.Send(FrameType::HashRequest, IndexPayload({3}));
              }, "not among"));
  v.push_back(BadDestination("push_asks_for_a_hash_twice", 12, [](FakeServer& s) {
                s.Send(FrameType::HashRequest, IndexPayload({1}));
                s.Send(FrameType::HashRequest, IndexPayload({1}));
              }, "requested twice"));
  v.push_back(BadDestination("push_asks_after_done", 12, [](FakeServer& s) {
                s.Send(FrameType::Done, {});
                s.Send(FrameType::SendList, IndexPayload({1}));
              }, "after the destination said it was done"));
  v.push_back(BadDestination("push_credit_releases_unlisted_entries", 12, [](FakeServer& s) {
                s.Send(FrameType::Credit, Payload(EncodeCredit, Credit{10, 20}));
              }, "out of turn"));
  v.push_back(BadDestination("push_credit_inverted", 12, [](FakeServer& s) {
                s.Send(FrameType::Credit, Payload(EncodeCredit, Credit{2, 1}));
              }, "inverted"));
  v.push_back(BadDestination("push_result_before_done", 12, [](FakeServer& s) {
                s.Send(FrameType::Result, ResultPayload());
              }, "unexpected Result"));
  v.push_back(BadDestination("push_second_done", 12, [](FakeServer& s) {
                s.Send(FrameType::Done, {});
                s.Send(FrameType::Done, {});
              }, "second Done"));
  v.push_back(BadDestination("push_item_with_unsafe_path", 12, [](FakeServer& s) {
                s.Send(FrameType::Item, NewFileItem("../canary/pwned"));
              }, "unsafe path"));
  v.push_back(BadDestination("push_manifest_from_the_destination", 12, [](FakeServer& s) {
                s.Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}));
              }, "unexpected ManifestBatch"));
  v.push_back(BadDestination("push_error_frame", 43, [](FakeServer& s) {
                ErrorMessage m{ExitCode::Locked, "DST is locked by another ktsync run"};
                s.Send(FrameType::Error, Payload(EncodeError, m));
              }, "locked"));
  v.push_back(BadDestination("push_report_with_escapes", 23, [](FakeServer& s) {
                s.Send(FrameType::Done, {});
                s.EndPush({{SessionReport::Failed, "g\x1b[8m", kEscapes}});
              }, "read g"));
  v.push_back(BadDestination("push_destination_vanishes", 10, [](FakeServer&) { ::_exit(0); }, "closed"));
  return v;
}

const std::vector<ClientCase>& ClientCases() {
  static const std::vector<ClientCase> cases = [] {
    const char* c = std::getenv("KTSYNC_FAKE_CANARY");
    std::vector<ClientCase> v = PullCases(c ? c : "/nonexistent-canary");
    for (std::vector<ClientCase> more : {HandshakeCases(), PushCases()}) {
      std::move(more.begin(), more.end(), std::back_inserter(v));
    }
    return v;
  }();
  return cases;
}

int RunFakePeer(const std::string& name) {
  for (const ClientCase& c : ClientCases()) {
    if (c.name != name) continue;
    FakeServer s;
    c.peer(s);
    return 0;
  }
  FakeServer::Fail("unknown case " + name);
}

// When this executable is started as the client's "ssh", it is a fake server: decided
// before gtest's main runs, which would print to stdout (our protocol channel).
struct FakePeerHook {
  FakePeerHook() {
    const char* mode = std::getenv("KTSYNC_FAKE_PEER");
    if (!mode) return;
    ::signal(SIGPIPE, SIG_IGN);
    ::alarm(60);  // never outlive a wedged test
    int rc = 3;
    try {
      rc = RunFakePeer(mode);
    } catch (const std::exception& e) {
      FakeServer::Fail(std::string("exception: ") + e.what());
    }
    ::_exit(rc);
  }
} fake_peer_hook;

// ---- process and tree helpers for the test side --------------------------------------

std::string SelfExe() { return fs::read_symlink("/proc/self/exe").string(); }

std::string KtsyncBin() {
  if (const char* b = std::getenv("KTSYNC_BIN")) return b;
  fs::path sibling = fs::path(SelfExe()).parent_path().parent_path() / "ktsync";
  if (fs::exists(sibling)) return sibling.string();
  return "/work/main/build/ktsync";
}

std::string ReadFileOr(const fs::path& p, const std::string& fallback = "") {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fallback;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << s;
}

constexpr bool kLimitMemory = !kSanitized;  // ASan reserves terabytes of address space

struct Child {
  Child() = default;
  Child(Child&& o) noexcept : pid(std::exchange(o.pid, -1)), to(std::move(o.to)), from(std::move(o.from)) {}
  Child& operator=(Child&& o) noexcept {
    if (pid > 0) Wait(0);
    pid = std::exchange(o.pid, -1);
    to = std::move(o.to);
    from = std::move(o.from);
    return *this;
  }

  pid_t pid = -1;
  UniqueFd to;    // its stdin (when piped)
  UniqueFd from;  // its stdout (when piped)

  // Exit status, 128+signal, or -1 after `timeout_ms` (then it is killed).
  int Wait(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int st = 0;
      pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        pid = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (Clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        pid = -1;
        return -1;
      }
      ::usleep(5000);
    }
  }
  ~Child() {
    if (pid > 0) Wait(0);
  }
};

// Spawns argv with extra environment; stdin/stdout piped when `pipes`, else /dev/null and
// `out_path`; stderr to `err_path`.
Child Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, bool pipes,
            const std::string& out_path, const std::string& err_path) {
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1};
  if (pipes && (::pipe2(in_p, O_CLOEXEC) != 0 || ::pipe2(out_p, O_CLOEXEC) != 0)) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int in = pipes ? in_p[0] : ::open("/dev/null", O_RDONLY);
    int out = pipes ? out_p[1] : ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::signal(SIGPIPE, SIG_DFL);
    ::unsetenv("KTSYNC_FAKE_PEER");
    for (const std::string& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
    if (kLimitMemory) {
      rlimit lim{2ull << 30, 2ull << 30};
      ::setrlimit(RLIMIT_AS, &lim);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  Child c;
  c.pid = pid;
  if (pipes) {
    ::close(in_p[0]);
    ::close(out_p[1]);
    c.to = UniqueFd(in_p[1]);
    c.from = UniqueFd(out_p[0]);
  }
  return c;
}

// Everything under `root` except `skip` subtrees: type, mode, mtime, size, content/target.
std::map<std::string, std::string> Snapshot(const fs::path& root, const std::vector<fs::path>& skip = {}) {
  std::map<std::string, std::string> snap;
  if (!fs::exists(fs::symlink_status(root))) return snap;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& p = it->path();
    if (std::find(skip.begin(), skip.end(), p) != skip.end()) {
      it.disable_recursion_pending();
      continue;
    }
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) continue;
    std::ostringstream rec;
    rec << std::oct << st.st_mode << std::dec << " " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " "
        << st.st_size << " " << st.st_nlink << " ";
    if (S_ISREG(st.st_mode)) rec << ReadFileOr(p);
    if (S_ISLNK(st.st_mode)) rec << fs::read_symlink(p).string();
    snap[p.lexically_relative(root).string()] = rec.str();
  }
  return snap;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += (c < 0x20 && c != '\n') || c == 0x7f ? '?' : static_cast<char>(c);
  return out;
}

// No temp file anywhere in DST; each regular file holds exactly one allowed content.
void ExpectDstSound(const fs::path& dst, const std::map<std::string, std::vector<std::string>>& allowed) {
  for (auto it = fs::recursive_directory_iterator(dst); it != fs::recursive_directory_iterator(); ++it) {
    std::string rel = it->path().lexically_relative(dst).string();
    EXPECT_FALSE(it->path().filename().string().starts_with(".ktsync-tmp.")) << "temp file left: " << rel;
    std::error_code ec;
    if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
    auto a = allowed.find(rel);
    if (a == allowed.end()) {
      ADD_FAILURE() << "unexpected file in DST: " << rel;
      continue;
    }
    std::string got = ReadFileOr(it->path());
    EXPECT_NE(std::find(a->second.begin(), a->second.end(), got), a->second.end())
        << rel << " holds content that is no version of it: " << Printable(got);
  }
}

// No C0 control byte but newline, no DEL, no C1 control (raw 0x80-0x9f outside a UTF-8
// sequence, or U+0080-U+009F encoded as C2 80-9F): a terminal acts on any of them.
void ExpectTerminalSafe(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(text[i]);
    bool c1_utf8 = ch == 0xc2 && i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xe0) == 0x80;
    bool after_lead = i > 0 && static_cast<unsigned char>(text[i - 1]) >= 0xc2;
    bool raw_c1 = ch >= 0x80 && ch <= 0x9f && !after_lead;
    EXPECT_FALSE((ch < 0x20 && ch != '\n') || ch == 0x7f || c1_utf8 || raw_c1)
        << "terminal control byte 0x" << std::hex << int(ch) << " at " << std::dec << i << " in: " << Printable(text);
  }
}

nlink_t LinkCount(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 ? st.st_nlink : 0;
}

// ---- hostile server against the real client ----------------------------------------

class HostileServer : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileServer, ClientRefusesCleanlyAndChangesNothingOutside) {
  ::signal(SIGPIPE, SIG_IGN);
  const ClientCase* cc = nullptr;
  for (const ClientCase& c : ClientCases())
    if (c.name == GetParam()) cc = &c;
  ASSERT_NE(cc, nullptr);

  TempDir t{"ktsync-hostile"};
  fs::path work = t.path() / "work", src = work / "src", dst = work / "dst", canary = work / "canary";
  fs::create_directories(src);
  fs::create_directories(dst);
  fs::create_directories(canary / "sub");
  WriteFile(canary / "secret", "canary: must never change\n");
  WriteFile(canary / "sub" / "x", "deeper canary\n");
  WriteFile(src / "f", kNewF);
  WriteFile(src / "g", kNewG);
  WriteFile(dst / "f", kOldF);
  WriteFile(dst / "keep", kOldKeep);
  if (cc->dst_symlink_to_canary) fs::create_directory_symlink("../canary", dst / "s");
  // A push changes nothing on the client's side at all; a pull only DST.
  std::vector<fs::path> outside = {t.path() / "state", t.path() / "out", t.path() / "err"};
  if (!cc->push) outside.push_back(dst);
  auto outside_before = Snapshot(t.path(), outside);

  std::string ssh = "env KTSYNC_FAKE_PEER=" + cc->name + " KTSYNC_FAKE_CANARY=" + canary.string() + " " + SelfExe();
  std::vector<std::string> argv = {KtsyncBin(), "mirror", "--force-delete", "--no-encryption", "--streams", "1", "--no-progress",
                                   "--state-dir", (t.path() / "state").string(), "-e", ssh};
  if (cc->push) {
    argv.insert(argv.end(), {src.string(), "fakehost:/dst"});
  } else {
    argv.insert(argv.end(), {"fakehost:/src", dst.string()});
  }
  Child c = Spawn(argv, {}, false, (t.path() / "out").string(), (t.path() / "err").string());
  int rc = c.Wait(30000);
  std::string err = ReadFileOr(t.path() / "err");
  EXPECT_EQ(rc, cc->want_exit) << "stderr:\n" << Printable(err) << "stdout:\n" << Printable(ReadFileOr(t.path() / "out"));
  EXPECT_EQ(err.find("fake peer:"), std::string::npos) << "the fake server itself failed: " << err;

  // The error is one "ktsync:" line (plus the --no-encryption warning), free of control bytes.
  ExpectTerminalSafe(err);
  if (!cc->want_message.empty()) {
    EXPECT_NE(err.find(cc->want_message), std::string::npos) << err;
  }
  if (cc->want_exit != 0 && cc->want_exit != 23) {
    std::istringstream lines(err);
    int errors = 0;
    for (std::string l; std::getline(lines, l);)
      if (l.starts_with("ktsync: ") && l.find("warning:") == std::string::npos) ++errors;
    EXPECT_EQ(errors, 1) << err;
  }

  EXPECT_EQ(Snapshot(t.path(), outside), outside_before) << "something outside DST changed";
  if (cc->push) return;
  std::map<std::string, std::vector<std::string>> allowed = {{"f", {kOldF}}, {"keep", {kOldKeep}}};
  for (const auto& [path, content] : cc->new_files) allowed[path].push_back(content);
  ExpectDstSound(dst, allowed);
  if (cc->want_exit != 0) {
    EXPECT_TRUE(fs::exists(dst / "keep")) << "a deletion ran after an error";
    return;
  }
  for (const auto& [path, content] : cc->new_files) {
    EXPECT_EQ(ReadFileOr(dst / path), content) << path;
    EXPECT_EQ(LinkCount(dst / path), 1u) << path << " was linked to another name";
  }
  EXPECT_FALSE(fs::exists(dst / "keep"));
}

std::vector<std::string> ClientCaseNames() {
  std::vector<std::string> names;
  for (const ClientCase& c : ClientCases()) names.push_back(c.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Cases, HostileServer, ::testing::ValuesIn(ClientCaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// ---- hostile client against the real `ktsync serve --stdio` ----------------------------

class HostileClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    src_ = t_.path() / "src";
    dst_ = t_.path() / "dst";
    canary_ = t_.path() / "canary";
    fs::create_directories(src_ / "d");
    WriteFile(src_ / "a", "alpha\n");
    WriteFile(src_ / "d" / "b", "beta\n");
    fs::create_directories(dst_);
    WriteFile(dst_ / "old", kOldDst);
    fs::create_directories(canary_);
    WriteFile(canary_ / "secret", "canary\n");
    fs::create_directory_symlink("../canary", dst_ / "evil");  // planted in DST by someone
    before_ = Snapshot(t_.path(), {t_.path() / "state", t_.path() / "err"});
  }

  static inline const std::string kOldDst = "old dst file\n";

  void StartServer(std::vector<std::string> env = {}) {
    env.push_back("KTSYNC_STATE_DIR=" + (t_.path() / "state").string());
    env.push_back("SSH_CONNECTION=127.0.0.1 40000 127.0.0.1 22");
    server_ = Spawn({KtsyncBin(), "serve", "--stdio"}, env, true, "", (t_.path() / "err").string());
  }

  bool Send(FrameType t, std::string_view payload) { return SendFrame(server_.to.get(), t, payload); }
  bool SendRaw(std::string_view bytes) { return WriteFully(server_.to.get(), bytes); }
  std::optional<RawFrame> Read() { return ReadFrame(server_.from.get()); }

  // Starts the server unless the test did (with an environment of its own).
  void Hello() {
    if (!server_.to) StartServer();
    auto h = Read();
    ASSERT_TRUE(h && h->type == FrameType::Hello);
    ASSERT_TRUE(Send(FrameType::Hello, HelloPayload()));
  }

  static std::string RequestPayload(ServerRole role, const std::string& path, bool dry_run = false) {
    SessionRequest r;
    r.role = role;
    r.path = path;
    r.spec.plan.hard_links = true;  // as the CLI asks by default: followers reach the planner
    r.spec.dry_run = dry_run;
    r.spec.deletes.force_delete = true;  // the first-mirror guard is deletion_guard_test's
    r.no_encryption = true;
    r.streams = 1;
    return Payload(EncodeRequest, r);
  }

  bool SendRoute(DataRoute route) {
    std::string out;
    EncodeDataRoute(route, out);
    return Send(FrameType::DataRoute, out);
  }

  // Hello, Request, Ready, DataRoute (direct: the port Ready names); for a pull, the
  // server's whole (small) manifest too.
  void Open(ServerRole role, const fs::path& tree, bool dry_run = false) {
    Hello();
    ASSERT_TRUE(Send(FrameType::Request, RequestPayload(role, tree.string(), dry_run)));
    auto r = Read();
    ASSERT_TRUE(r && r->type == FrameType::Ready) << ServerLog();
    ready_ = DecodeReady(r->payload);
    ASSERT_TRUE(SendRoute(dry_run ? DataRoute::None : DataRoute::Direct));
    if (role == ServerRole::Receive) return;
    std::optional<Manifest> m = ReadManifest(server_.from.get());
    ASSERT_TRUE(m) << ServerLog();
    manifest_ = std::move(*m);
  }

  int64_t IndexOf(const std::string& path) const {
    for (size_t i = 0; i < manifest_.size(); ++i)
      if (manifest_[i].path == path) return static_cast<int64_t>(i);
    return -1;
  }

  UniqueFd ConnectData(const SessionToken& token) {
    UniqueFd s = ConnectTcp(ready_.data_host, ready_.data_port, 5000);
    SendFrame(s.get(), FrameType::DataHello, Payload(EncodeDataHello, DataHello{token, 0}));
    return s;
  }

  // The server must end with `code`, quickly, after telling us why in an Error frame.
  void ExpectServerExit(int code, const std::string& message) {
    std::optional<ErrorMessage> error;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      auto f = ReadFrame(server_.from.get(), 10000);
      if (!f) break;
      if (f->type == FrameType::Error) error = DecodeError(f->payload);
    }
    server_.to.reset();
    data_.reset();
    int rc = server_.Wait(10000);
    EXPECT_EQ(rc, code) << ServerLog();
    if (code != 0 && code != 10) {
      ASSERT_TRUE(error.has_value()) << "no Error frame; log: " << ServerLog();
      EXPECT_EQ(static_cast<int>(error->code), code);
      EXPECT_NE(error->message.find(message), std::string::npos) << error->message;
    }
  }

  void ExpectNothingChanged() {
    EXPECT_EQ(Snapshot(t_.path(), {t_.path() / "state", t_.path() / "err"}), before_);
  }

  // Outside DST nothing changed (inside, a temp file may have come and gone: DST's mtime).
  void ExpectOutsideUnchanged() {
    auto before = before_;
    std::erase_if(before, [](const auto& kv) { return kv.first == "dst" || kv.first.starts_with("dst/"); });
    EXPECT_EQ(Snapshot(t_.path(), {t_.path() / "state", t_.path() / "err", dst_}), before);
  }

  std::string ServerLog() { return Printable(ReadFileOr(t_.path() / "err")); }

  // ---- push: we are the source

  // Our entries (raw: the encoder refuses an attacker's), then ManifestEnd with their count.
  void SendEntries(const std::vector<RawEntry>& es) {
    Send(FrameType::ManifestBatch, EncodeRawEntries(es));
    Send(FrameType::ManifestEnd, I64Payload(static_cast<int64_t>(es.size())));
  }

  struct ServerRequest {
    FrameType type;  // HashRequest or SendList
    std::vector<int64_t> indices;
  };
  // The server's next request, or nullopt at its Done (or when it stopped talking). Its
  // Credit frames need no answer here. The data connection is opened at the first SendList:
  // the server waits for it before it plans on.
  std::optional<ServerRequest> NextRequest() {
    for (;;) {
      auto f = Read();
      if (!f) {
        ADD_FAILURE() << "the server stopped before its Done; log: " << ServerLog();
        return std::nullopt;
      }
      if (f->type == FrameType::Credit) continue;
      if (f->type == FrameType::Done) return std::nullopt;
      if (f->type != FrameType::SendList && f->type != FrameType::HashRequest) {
        ADD_FAILURE() << "unexpected " << FrameTypeName(f->type) << "; log: " << ServerLog();
        return std::nullopt;
      }
      ServerRequest r{f->type, {}};
      DecodeIndexList(f->payload, r.indices);
      if (r.type == FrameType::SendList && !data_) data_ = ConnectData(ready_.token);
      return r;
    }
  }

  // Honest from here on: every request is answered from `es` until the server's Done, then
  // both ends report (ours first). Returns the server's reports.
  std::vector<SessionReport> CompletePush(const std::vector<RawEntry>& es,
                                          const std::vector<SessionReport>& ours = {}) {
    while (std::optional<ServerRequest> r = NextRequest()) {
      if (r->type == FrameType::SendList) {
        for (int64_t i : r->indices) SendFile(i, es.at(static_cast<size_t>(i)).content);
        continue;
      }
      std::vector<HashReplyItem> items;
      for (int64_t i : r->indices) items.push_back({i, HashOf(es.at(static_cast<size_t>(i)).content)});
      Send(FrameType::HashReply, HashReplyPayload(items));
    }
    return FinishPush(ours);
  }

  void SendFile(int64_t index, std::string_view content, std::optional<Hash128> hash = {}) {
    SendFileFrames(data_.get(), index, content, hash.value_or(HashOf(content)));
  }

  // After the server's Done: the data connection's Done, our Reports and Result, the
  // server's; we say Done.
  std::vector<SessionReport> FinishPush(const std::vector<SessionReport>& ours = {}) {
    if (data_) SendFrame(data_.get(), FrameType::Done, {});
    for (const SessionReport& r : ours) Send(FrameType::Report, Payload(EncodeReport, r));
    Send(FrameType::Result, ResultPayload());
    std::vector<SessionReport> reports;
    for (;;) {
      auto f = Read();
      if (!f) {
        ADD_FAILURE() << "no Result; log: " << ServerLog();
        return reports;
      }
      if (f->type == FrameType::Report) {
        reports.push_back(DecodeReport(f->payload));
        continue;
      }
      EXPECT_EQ(f->type, FrameType::Result) << FrameTypeName(f->type);
      break;
    }
    Send(FrameType::Done, {});
    return reports;
  }

  static bool Failed(const std::vector<SessionReport>& rs, const std::string& path) {
    for (const SessionReport& r : rs)
      if (r.kind == SessionReport::Failed && r.key == path) return true;
    return false;
  }

  TempDir t_{"ktsync-hostile"};
  fs::path src_, dst_, canary_;
  Child server_;
  SessionReady ready_;
  Manifest manifest_;  // pull: what the server listed
  UniqueFd data_;
  std::map<std::string, std::string> before_;
};

// ---- the session's start

TEST_F(HostileClient, WrongMagicIsRefused) {
  StartServer();
  ASSERT_TRUE(Read());
  std::string hello = HelloPayload();
  hello[0] = 'X';
  Send(FrameType::Hello, hello);
  ExpectServerExit(5, "did not greet as ktsync");
  ExpectNothingChanged();
}

TEST_F(HostileClient, OlderProtocolVersionIsRefused) {
  StartServer();
  ASSERT_TRUE(Read());
  Send(FrameType::Hello, HelloPayload(2));
  ExpectServerExit(2, "protocol v2");
  ExpectNothingChanged();
}

TEST_F(HostileClient, RequestBeforeHelloIsRefused) {
  StartServer();
  ASSERT_TRUE(Read());
  Send(FrameType::Request, RequestPayload(ServerRole::Send, src_.string()));
  ExpectServerExit(12, "Request");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnknownRequestFlagsAreRefused) {
  Hello();
  std::string req = RequestPayload(ServerRole::Receive, dst_.string());
  size_t flags_at = 1 + 2 + dst_.string().size();
  req[flags_at + 3] = static_cast<char>(0x80);  // bit 31
  Send(FrameType::Request, req);
  ExpectServerExit(12, "unknown option flags");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnknownRoleIsRefused) {
  Hello();
  std::string req = RequestPayload(ServerRole::Receive, dst_.string());
  req[0] = 9;
  Send(FrameType::Request, req);
  ExpectServerExit(12, "unknown role");
  ExpectNothingChanged();
}

// --files-from (pull): the list after the Request is checked as it comes, and nothing
// else may come until its end.
TEST_F(HostileClient, AFileListOutOfOrderIsRefused) {
  Hello();
  SessionRequest r = DecodeRequest(RequestPayload(ServerRole::Send, src_.string()));
  r.file_list = true;
  Send(FrameType::Request, Payload(EncodeRequest, r));
  std::vector<ListedPath> list = {{"b", false}, {"a", false}};
  std::string out;
  EncodeFileListBatch(list, out);
  Send(FrameType::FileList, out);
  ExpectServerExit(12, "out of order");
  ExpectNothingChanged();
}

TEST_F(HostileClient, AnotherFrameInsideTheFileListIsRefused) {
  Hello();
  SessionRequest r = DecodeRequest(RequestPayload(ServerRole::Send, src_.string()));
  r.file_list = true;
  Send(FrameType::Request, Payload(EncodeRequest, r));
  SendRoute(DataRoute::None);
  ExpectServerExit(12, "inside the --files-from list");
  ExpectNothingChanged();
}

// The header promises 4 GiB - 1 of payload that never comes: the server must reject the
// header itself (with our end of the pipe still open), not allocate or wait for the bytes.
TEST_F(HostileClient, HugeFrameLengthIsRejectedWithoutWaitingOrAllocating) {
  Hello();
  auto t0 = Clock::now();
  SendRaw(Header(static_cast<uint8_t>(FrameType::Request), 0xFFFFFFFFu));
  ExpectServerExit(12, "exceeds");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
}

// ---- pull: the server is the source; we ask by ordinal

TEST_F(HostileClient, HugeCountIsRejected) {
  Open(ServerRole::Send, src_);
  std::string out;
  ByteWriter w(out);
  w.U32(0xFFFFFFFFu);
  w.I64(1);
  Send(FrameType::HashRequest, out);
  ExpectServerExit(12, "count");
}

TEST_F(HostileClient, HashRequestBeyondTheListedEntriesIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::HashRequest, IndexPayload({static_cast<int64_t>(manifest_.size())}));
  ExpectServerExit(12, "not among the");
}

TEST_F(HostileClient, NegativeIndexIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::SendList, IndexPayload({-1}));
  ExpectServerExit(12, "negative index");
}

TEST_F(HostileClient, SendListNamingADirectoryIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::SendList, IndexPayload({IndexOf("d")}));
  Send(FrameType::Done, {});
  ExpectServerExit(12, "not a regular file");
}

// Each entry is hashed and sent at most once, whatever a client asks: a second request for
// the same ordinal, in a later list or in the same one, ends the run.
TEST_F(HostileClient, AHashAskedForTwiceIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::HashRequest, IndexPayload({IndexOf("a")}));
  Send(FrameType::HashRequest, IndexPayload({IndexOf("a")}));
  ExpectServerExit(12, "requested twice");
}

TEST_F(HostileClient, AFileAskedForTwiceInOneListIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::SendList, IndexPayload({IndexOf("a"), IndexOf("a")}));
  ExpectServerExit(12, "requested twice");
}

TEST_F(HostileClient, RequestAfterDoneIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::Done, {});
  Send(FrameType::SendList, IndexPayload({IndexOf("a")}));
  ExpectServerExit(12, "after the destination said it was done");
}

TEST_F(HostileClient, CreditReleasingUnlistedEntriesIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::Credit, Payload(EncodeCredit, Credit{1000, 1000}));
  ExpectServerExit(12, "out of turn");
}

// A client may grant any credit; the server still holds no more than its window of
// unreleased entries for it: with nothing released, it stops listing there.
TEST_F(HostileClient, CreditBeyondTheWindowIsNotTaken) {
  constexpr int64_t kWindow = DestChannel::kMaxWindow;
  // Names of two files (a link is far cheaper than an inode; ext4 allows 65000 per inode).
  fs::create_directories(src_ / "many");
  WriteFile(src_ / "a2", "");
  for (int64_t i = 0; i < kWindow + 1000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06lld", static_cast<long long>(i));
    fs::create_hard_link(src_ / (i % 2 ? "a" : "a2"), src_ / "many" / name);
  }
  Hello();
  Send(FrameType::Request, RequestPayload(ServerRole::Send, src_.string()));
  auto r = Read();
  ASSERT_TRUE(r && r->type == FrameType::Ready) << ServerLog();
  SendRoute(DataRoute::Direct);
  Send(FrameType::Credit, Payload(EncodeCredit, Credit{0, int64_t{1} << 40}));
  ManifestDecoder decoder;
  EntryBatch batch;
  while (decoder.count() < kWindow) {
    auto f = Read();
    ASSERT_TRUE(f && f->type == FrameType::ManifestBatch) << "after " << decoder.count() << " entries: " << ServerLog();
    decoder.Decode(f->payload, batch);
  }
  EXPECT_EQ(decoder.count(), kWindow);
  EXPECT_FALSE(WaitReadable(server_.from.get(), Clock::now() + std::chrono::seconds(1)))
      << "the server listed beyond its window";
  server_.to.reset();  // the client is gone
  ExpectServerExit(10, "");
}

TEST_F(HostileClient, ManifestFromThePullingClientIsRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}));
  ExpectServerExit(12, "unexpected ManifestBatch");
}

// ---- push: the server is the destination; we list SRC and send what it asks for

TEST_F(HostileClient, DataFramesOnTheControlChannelAreRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::FileBegin, FileBeginPayload(0, 0));
  ExpectServerExit(12, "unexpected FileBegin");
  ExpectNothingChanged();
}

// Types 7 and 8 carried a v2 client's plan; v3 has no such frames.
TEST_F(HostileClient, V2PlanFramesAreUnknown) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}));
  SendRaw(Header(7, 0));
  ExpectServerExit(12, "unknown frame type 7");
  ExpectNothingChanged();
}

TEST_F(HostileClient, TruncatedStreamEndsTheSession) {
  Open(ServerRole::Receive, dst_);
  std::string batch = EncodeRawEntries({Dir(""), File("a", "alpha\n")});
  SendRaw(Header(static_cast<uint8_t>(FrameType::ManifestBatch), static_cast<uint32_t>(batch.size())) +
          batch.substr(0, 7));
  server_.to.reset();  // the rest of the frame never comes
  ExpectServerExit(10, "");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnsafePathsInThePushedManifestAreRefused) {
  for (const std::string& bad : {std::string("../canary/pwned"), canary_.string() + "/pwned", std::string("a/../../x")}) {
    SCOPED_TRACE(bad);
    Open(ServerRole::Receive, dst_);
    SendEntries({Dir(""), File(bad, "pwned\n")});
    ExpectServerExit(12, "unsafe path");
    ExpectNothingChanged();
  }
}

TEST_F(HostileClient, DuplicateEntriesInThePushedManifestAreRefused) {
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), File("n", "1\n"), File("n", "2\n")});
  ExpectServerExit(12, "duplicated");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnsortedPushedManifestIsRefused) {
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), File("z", "1\n"), File("a", "2\n")});
  ExpectServerExit(12, "out of order");
  ExpectNothingChanged();
}

// ManifestEnd carries the count: a batch lost (or added) in between must end the run
// rather than shrink or grow what is mirrored (and deleted). Directories only, so the
// server asks for no data.
TEST_F(HostileClient, PushedManifestCountMismatchIsRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir(""), Dir("n")}));
  Send(FrameType::ManifestEnd, I64Payload(3));
  ExpectServerExit(12, "entry count does not match");
}

TEST_F(HostileClient, EntriesAfterTheEndAreRefused) {
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), Dir("n")});
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("z")}));
  ExpectServerExit(12, "after the end of the file list");
}

// Before the first Credit a source may send 32768 entries; the 32769th is refused as it
// arrives, whatever the server has consumed by then.
TEST_F(HostileClient, EntriesBeyondTheGrantedCreditAreRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries(FlatEntries(0, kInitialCredit + 1)));
  ExpectServerExit(12, "beyond the 32768 it was allowed");
  ExpectOutsideUnchanged();
}

// The same size and another mtime make the server ask for "old"'s hash.
TEST_F(HostileClient, HashReplyForAnotherEntryIsRefused) {
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), File("old", std::string(kOldDst.size(), 'x'))});
  std::optional<ServerRequest> r = NextRequest();
  ASSERT_TRUE(r && r->type == FrameType::HashRequest && r->indices == std::vector<int64_t>{1}) << ServerLog();
  Send(FrameType::HashReply, HashReplyPayload({{0, HashOf("x")}}));
  ExpectServerExit(12, "hash reply out of order");
  ExpectNothingChanged();
}

TEST_F(HostileClient, HashReplyNeverAskedForIsRefused) {
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), Dir("n")});
  Send(FrameType::HashReply, HashReplyPayload({{1, HashOf("x")}}));
  ExpectServerExit(12, "hash reply out of order");
}

// A Result before the list ended is out of turn: the server must say so, not wait for the
// rest of a list that will never come.
TEST_F(HostileClient, ResultBeforeTheManifestEndsIsRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}));
  Send(FrameType::Result, ResultPayload());
  ExpectServerExit(12, "Result");
  ExpectNothingChanged();
}

// A follower whose "leader" is no file with more links (a plain file, the root) is a file
// of its own: it is asked for and written, never linked to something unchecked.
TEST_F(HostileClient, FollowersOfBogusLeadersAreCopiedAsFilesOfTheirOwn) {
  Open(ServerRole::Receive, dst_);
  std::vector<RawEntry> es = {Dir(""), File("a", "plain a\n"), Follower("b", "bee\n", 1), Follower("c", "sea\n", 0)};
  SendEntries(es);
  CompletePush(es);
  ExpectServerExit(0, "");
  for (const RawEntry& e : es) {
    if (e.type != EntryType::File) continue;
    EXPECT_EQ(ReadFileOr(dst_ / e.path), e.content) << e.path;
    EXPECT_EQ(LinkCount(dst_ / e.path), 1u) << e.path;
  }
  ExpectOutsideUnchanged();
}

// DST/evil is a symlink into the canary; SRC lists a file with two links there and a
// follower. The server replaces the symlink (it plans from its own scan of DST) and links
// the follower to the new file, never to what the symlink points at.
TEST_F(HostileClient, HardLinkToALeaderThatReplacesASymlinkStaysInsideDst) {
  Open(ServerRole::Receive, dst_);
  std::vector<RawEntry> es = {Dir(""), Leader("evil", "leader\n", 2), Follower("zz", "leader\n", 1)};
  SendEntries(es);
  CompletePush(es);
  ExpectServerExit(0, "");
  EXPECT_FALSE(fs::is_symlink(dst_ / "evil"));
  EXPECT_EQ(ReadFileOr(dst_ / "zz"), "leader\n");
  EXPECT_EQ(LinkCount(dst_ / "zz"), 2u);
  ExpectDstSound(dst_, {{"evil", {"leader\n"}}, {"zz", {"leader\n"}}});
  ExpectOutsideUnchanged();
}

// The leader's data is refused (wrong hash), so DST keeps its old "lead": the follower must
// not become another name of that old content.
TEST_F(HostileClient, FollowerOfAFailedLeaderLinksToNothingOld) {
  WriteFile(dst_ / "lead", "the old lead, longer than the new\n");
  Open(ServerRole::Receive, dst_);
  SendEntries({Dir(""), Leader("lead", "new lead\n", 2), Follower("zz", "new lead\n", 1)});
  std::optional<ServerRequest> r = NextRequest();
  ASSERT_TRUE(r && r->type == FrameType::SendList && r->indices == std::vector<int64_t>{1}) << ServerLog();
  SendFile(1, "EVIL LEAD", HashOf("new lead\n"));
  EXPECT_FALSE(NextRequest());
  auto reports = FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(Failed(reports, "lead"));
  EXPECT_EQ(ReadFileOr(dst_ / "lead"), "the old lead, longer than the new\n");
  ExpectDstSound(dst_, {{"lead", {"the old lead, longer than the new\n"}}, {"zz", {"new lead\n"}}, {"old", {kOldDst}}});
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "a deletion ran after an error";
  ExpectOutsideUnchanged();
}

// SRC lists "evil" as a directory with files in it; DST/evil is a symlink into the canary.
// The server plans from its own scan, so it replaces the symlink with a real directory
// before anything lands beneath it (and the no-symlinks openat2 backs that up).
TEST_F(HostileClient, PushThroughASymlinkedDirectoryIsConfined) {
  Open(ServerRole::Receive, dst_);
  std::vector<RawEntry> es = {Dir(""), Dir("evil"), File("evil/pwned", "pwned\n"), Dir("evil/sub"),
                              File("new", "fine\n")};
  SendEntries(es);
  CompletePush(es);
  ExpectServerExit(0, "");
  EXPECT_FALSE(fs::exists(canary_ / "pwned"));
  EXPECT_FALSE(fs::exists(canary_ / "sub"));
  EXPECT_FALSE(fs::is_symlink(dst_ / "evil"));
  EXPECT_EQ(ReadFileOr(dst_ / "evil" / "pwned"), "pwned\n");
  EXPECT_EQ(ReadFileOr(dst_ / "new"), "fine\n");
  ExpectDstSound(dst_, {{"evil/pwned", {"pwned\n"}}, {"new", {"fine\n"}}});
  ExpectOutsideUnchanged();
}

TEST_F(HostileClient, WrongSessionTokenGetsNothing) {
  Open(ServerRole::Receive, dst_);
  std::vector<RawEntry> es = {Dir(""), File("n", "1234")};
  SendEntries(es);
  {
    SessionToken wrong = ready_.token;
    wrong[0] ^= 1;
    UniqueFd s = ConnectData(wrong);
    SendFileFrames(s.get(), 1, "EVIL", HashOf("EVIL"));
    char c;
    EXPECT_FALSE(ReadFully(s.get(), &c, 1, 5000)) << "the impostor's connection must be closed";
  }
  auto reports = CompletePush(es);
  ExpectServerExit(0, "");
  EXPECT_FALSE(Failed(reports, "n"));
  EXPECT_EQ(ReadFileOr(dst_ / "n"), "1234");
}

// Push data that lies: each lie is refused and leaves no trace in DST.
class HostilePushData : public HostileClient {
 protected:
  // Opens a push of one new file "n" (content `content`) and reads the server's SendList;
  // without `end_list` the file list stays open.
  void PushOneFile(const std::string& content, bool end_list = true) {
    Open(ServerRole::Receive, dst_);
    std::vector<RawEntry> es{Dir(""), File("n", content)};
    if (end_list) {
      SendEntries(es);
    } else {
      Send(FrameType::ManifestBatch, EncodeRawEntries(es));
    }
    std::optional<ServerRequest> r = NextRequest();
    ASSERT_TRUE(r && r->type == FrameType::SendList && r->indices == std::vector<int64_t>{1}) << ServerLog();
  }
  void ExpectDstUnchanged() {
    ExpectDstSound(dst_, {{"old", {kOldDst}}});
    EXPECT_TRUE(fs::is_symlink(dst_ / "evil"));
    ExpectOutsideUnchanged();
  }
  // The run ended cleanly for the server, "n" failed, and the deletion gate stayed shut.
  void ExpectFailedWithoutDeletions(const std::vector<SessionReport>& reports) {
    ExpectServerExit(0, "");
    EXPECT_TRUE(Failed(reports, "n")) << "n is reported as failed";
    EXPECT_TRUE(fs::exists(dst_ / "old")) << "a deletion ran after an error";
    ExpectDstUnchanged();
  }
};

TEST_F(HostilePushData, FileLongerThanAnnouncedIsRefused) {
  PushOneFile("1234");
  SendFrame(data_.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
  SendFrame(data_.get(), FrameType::FileData, "123456789");
  ExpectServerExit(12, "longer than announced");
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, FileNotAskedForIsRefused) {
  PushOneFile("1234");
  SendFile(0, "");
  ExpectServerExit(12, "not asked for");
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, SecondCopyOfAFileIsRefused) {
  PushOneFile("1234");
  SendFile(1, "1234");
  SendFile(1, "1234");
  ExpectServerExit(12, "not asked for (or twice)");
  ExpectOutsideUnchanged();
}

TEST_F(HostilePushData, WrongHashFailsTheFileAndKeepsNothing) {
  PushOneFile("1234");
  SendFile(1, "EVIL", HashOf("1234"));
  EXPECT_FALSE(NextRequest());
  ExpectFailedWithoutDeletions(FinishPush());
}

// After the server's last request the data connection ends without "n": the server must
// fail it (the sender's bug) rather than wait for it, and not delete.
TEST_F(HostilePushData, FileNeverSentFailsAndStopsDeletions) {
  PushOneFile("1234");
  EXPECT_FALSE(NextRequest());
  SendFrame(data_.get(), FrameType::Done, {});
  data_.reset();
  ExpectFailedWithoutDeletions(FinishPush());
}

// Ending the data connection while the server may still ask for files (the file list has
// not ended) breaks the protocol.
TEST_F(HostilePushData, DataEndedWhileFilesAreDueIsRefused) {
  PushOneFile("1234", /*end_list=*/false);
  SendFrame(data_.get(), FrameType::Done, {});
  ExpectServerExit(12, "data connection ended while files were still due");
  ExpectDstUnchanged();
}

// The sender gives up on "n" (discard) and reports it as vanished, as an honest one does.
TEST_F(HostilePushData, DiscardedFileStopsDeletions) {
  PushOneFile("1234");
  SendDiscarded(data_.get(), 1, 4, "12");
  EXPECT_FALSE(NextRequest());
  FinishPush({{SessionReport::Vanished, "n", "changed while being sent"}});
  ExpectServerExit(0, "");
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "deleted although the sender discarded a file";
  ExpectDstUnchanged();
}

// The same discard without a word about it: "n" is still not mirrored, so nothing may be
// deleted.
TEST_F(HostilePushData, DiscardedFileUnreportedStopsDeletions) {
  PushOneFile("1234");
  SendDiscarded(data_.get(), 1, 4, "12");
  EXPECT_FALSE(NextRequest());
  FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "deleted although a file asked for never arrived";
  ExpectDstUnchanged();
}

// Every file arrives, but the source reports a problem of its own (a file it could not
// list): its problems close the deletion gate like the server's.
TEST_F(HostilePushData, SourceProblemStopsDeletions) {
  PushOneFile("1234");
  SendFile(1, "1234");
  EXPECT_FALSE(NextRequest());
  FinishPush({{SessionReport::Failed, "unlisted", "cannot read directory"}});
  ExpectServerExit(0, "");
  EXPECT_EQ(ReadFileOr(dst_ / "n"), "1234");
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "deleted although the source had a problem";
  ExpectOutsideUnchanged();
}

TEST_F(HostilePushData, TruncatedMidFileLeavesNoTemp) {
  PushOneFile(std::string(100000, 'x'));
  SendFrame(data_.get(), FrameType::FileBegin, FileBeginPayload(1, 100000));
  SendFrame(data_.get(), FrameType::FileData, std::string(50000, 'x'));
  data_.reset();
  ExpectServerExit(10, "");
  ExpectDstUnchanged();
}

// ---- an endless manifest

struct Memory {
  uint64_t rss_kib = 0;
  uint64_t hwm_kib = 0;  // peak RSS
};

Memory MemoryOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Memory m;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) m.rss_kib = std::stoull(line.substr(6));
    if (line.starts_with("VmHWM:")) m.hwm_kib = std::stoull(line.substr(6));
  }
  return m;
}

// A hostile client streams entries for as long as the server grants credit. The server holds
// no listing (it plans entries as they come and releases them; credit comes only then, so
// all it took but one window it has planned), and its memory stays flat however many it
// takes. A dry run: the server plans every entry without waiting for its data, which would
// otherwise stall it at 8192 files in flight (flat too, but it proves less). Measured from
// /proc; nothing is asserted on time, the budget only bounds the run.
TEST_F(HostileClient, EndlessManifestLeavesTheServersMemoryFlat) {
  const bool small = kSanitized || std::getenv("KTSYNC_E2E_BIG_MIB") != nullptr;
  const int64_t target = small ? 300'000 : 3'000'000;
  const int64_t warm_up = target / 10;
  const uint64_t max_growth_kib = (kSanitized ? 64 : 32) * 1024;
  constexpr int64_t kBatch = 4096;
  std::vector<std::string> env;
  if (kSanitized) {
    // ASan parks freed memory in a quarantine (256 MiB by default): that is not growth.
    const char* asan = std::getenv("ASAN_OPTIONS");
    env.push_back(std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":quarantine_size_mb=8");
  }
  StartServer(env);
  Open(ServerRole::Receive, dst_, /*dry_run=*/true);

  int64_t sent = 0, granted = kInitialCredit;
  std::optional<Memory> base;
  uint64_t peak_rss_kib = 0;
  bool stalled = false;
  auto give_up = Clock::now() + std::chrono::seconds(20);
  while (sent < target && Clock::now() < give_up) {
    // Take the credit that came; out of it, wait a while for more.
    while (WaitReadable(server_.from.get(), Clock::now() + std::chrono::seconds(sent < granted ? 0 : 5))) {
      auto f = Read();
      ASSERT_TRUE(f) << "after " << sent << " entries: " << ServerLog();
      ASSERT_EQ(f->type, FrameType::Credit) << FrameTypeName(f->type);
      granted = std::max(granted, DecodeCredit(f->payload).send_below);
    }
    if (sent >= granted) {
      stalled = true;
      break;
    }
    int64_t n = std::min({kBatch, granted - sent, target - sent});
    ASSERT_TRUE(Send(FrameType::ManifestBatch, EncodeRawEntries(FlatEntries(sent, n))))
        << "after " << sent << " entries: " << ServerLog();
    sent += n;
    Memory m = MemoryOf(server_.pid);
    if (!base && sent >= warm_up) base = m;
    if (base) peak_rss_kib = std::max(peak_rss_kib, m.rss_kib);
  }
  Memory last = MemoryOf(server_.pid);
  std::printf("[   info   ] %lld entries taken%s; server RSS %llu KiB after warm-up, peak %llu KiB, VmHWM %llu KiB\n",
              static_cast<long long>(sent), stalled ? " (then the server stopped granting credit)" : "",
              static_cast<unsigned long long>(base ? base->rss_kib : 0),
              static_cast<unsigned long long>(peak_rss_kib), static_cast<unsigned long long>(last.hwm_kib));
  ASSERT_TRUE(base) << "the server took only " << sent << " entries: " << ServerLog();
  EXPECT_LT(peak_rss_kib - base->rss_kib, max_growth_kib);
  if (!stalled) {
    EXPECT_GE(sent, std::min(target, 8 * DestChannel::kMaxWindow)) << "the server took too few entries";
  }

  // The flood ends like any push: the server's plan completes, both ends report.
  Send(FrameType::ManifestEnd, I64Payload(sent));
  EXPECT_FALSE(NextRequest());
  FinishPush();
  ExpectServerExit(0, "");
  ExpectNothingChanged();
}

// A pusher with the daemon's secret lists entries as large as the protocol allows (4 KiB
// paths, 4 KiB link targets, 64 KiB of attributes: 73 KB each) and never reads. The server
// cannot plan them (its first file waits for data connections that never come), so it holds
// what it takes. Counted in entries alone it took 32768 of them, 2.4 GB; counted in bytes
// it takes 8 MiB before the first Credit and ends the session at the first byte beyond.
TEST_F(HostileClient, HugeEntriesBeyondTheByteCreditAreRefusedWithMemoryBounded) {
  const uint64_t max_hwm_kib = (kSanitized ? 768 : 256) * 1024;
  Open(ServerRole::Receive, dst_);
  std::vector<RawEntry> head = {Dir(""), File("a", "x")};  // "a" waits for its data
  std::string deep;
  for (int k = 0; k < 15; ++k) {
    deep += (k ? "/" : "") + std::string(250, static_cast<char>('d' + k % 2));
    head.push_back(Dir(deep));
  }
  ASSERT_TRUE(Send(FrameType::ManifestBatch, EncodeRawEntries(head)));
  const std::string target(kMaxLinkTargetBytes, 't');
  const std::string value(kMaxXattrBytes - 8, 'v');  // with the name "user.big": 64 KiB
  uint64_t peak_hwm_kib = 0;
  int64_t sent = static_cast<int64_t>(head.size()), bytes = 0;
  char name[32];
  while (sent < kInitialCredit) {
    std::vector<RawEntry> batch;
    for (int k = 0; k < 40 && sent + k < kInitialCredit; ++k) {
      std::snprintf(name, sizeof name, "/l%09lld", static_cast<long long>(sent + k));
      batch.push_back({deep + name + std::string(kMaxNameBytes - 10, 'n'), EntryType::Symlink, "", target});
      batch.back().xattr = value;
    }
    std::string payload = EncodeRawEntries(batch);
    if (!Send(FrameType::ManifestBatch, payload)) break;  // the server stopped reading: refused
    sent += static_cast<int64_t>(batch.size());
    bytes += static_cast<int64_t>(payload.size());
    peak_hwm_kib = std::max(peak_hwm_kib, MemoryOf(server_.pid).hwm_kib);
  }
  std::printf("[   info   ] %lld entries (%lld MiB) sent before the server refused; its VmHWM peaked at %llu KiB\n",
              static_cast<long long>(sent), static_cast<long long>(bytes >> 20),
              static_cast<unsigned long long>(peak_hwm_kib));
  EXPECT_LT(peak_hwm_kib, max_hwm_kib);
  ExpectServerExit(12, "bytes it was allowed");
  ExpectOutsideUnchanged();
}

}  // namespace
}  // namespace ktsync
