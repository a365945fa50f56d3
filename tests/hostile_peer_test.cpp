// links: ktsync_transfer
// Hostile peers against the REAL ktsync binary ($KTSYNC_BIN, default: the ktsync built next
// to this test, else /work/main/build/ktsync).
//
// * Hostile client: the test spawns `ktsync serve --stdio` on pipes and speaks frames to it
//   (built with the wire encoders, or byte by byte where the encoders refuse the attack).
// * Hostile server: the test runs `ktsync mirror -e 'env KTSYNC_FAKE_PEER=CASE <this test>'
//   host:/src DST`, so the "ssh" the client starts is this very executable, which (before
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

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <utility>
#include <string>
#include <vector>

#include "transfer/byte_io.h"
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

// ---- raw I/O -------------------------------------------------------------------------

bool WaitReadable(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return true;
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

std::string U64Payload(uint64_t v) {
  std::string out;
  ByteWriter(out).U64(v);
  return out;
}

std::string HelloPayload() {
  std::string out;
  EncodeHello(Hello{}, out);
  return out;
}

// ---- entries as raw bytes (the encoder refuses unsafe paths, an attacker does not) ------

struct RawEntry {
  std::string path;
  EntryType type = EntryType::File;
  std::string content;  // files
  std::string target;   // symlinks
  std::optional<uint64_t> size;  // overrides content.size()
  int64_t leader = -1;
};

RawEntry Dir(std::string path) { return {std::move(path), EntryType::Dir, "", "", {}, -1}; }
RawEntry File(std::string path, std::string content) { return {std::move(path), EntryType::File, std::move(content), "", {}, -1}; }
RawEntry Link(std::string path, std::string target) { return {std::move(path), EntryType::Symlink, "", std::move(target), {}, -1}; }

constexpr int64_t kMtime = 1'600'000'000'123'456'789;

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
    w.U64(e.type == EntryType::File ? e.size.value_or(e.content.size()) : 0);
    w.I64(kMtime);
    if (e.type == EntryType::Symlink) w.Str16(e.target);
    w.U8(0);  // no hash
    w.I64(e.leader);
  }
  return out;
}

Hash128 HashOf(std::string_view s) { return HashBytes(s.data(), s.size()); }

std::string FileEndPayload(Hash128 h, uint8_t flags = 0) {
  std::string out;
  EncodeFileEnd(FileEnd{h, flags}, out);
  return out;
}

std::string FileBeginPayload(int64_t index, uint64_t size) {
  std::string out;
  EncodeFileBegin(FileBegin{index, size}, out);
  return out;
}

// ---- the fake server, run inside the "ssh" child -------------------------------------

// What the hostile server tells the client. The client's DST starts with "f" (old content,
// another size, so it is re-sent) and "keep" (not in SRC: deleted only after a clean run).
const std::string kOldF = "old version of f, longer than the new one\n";
const std::string kNewF = "new f\n";
const std::string kNewG = "new g content\n";
const std::string kOldKeep = "kept unless the run is clean\n";

std::vector<RawEntry> GoodManifest() { return {Dir(""), File("f", kNewF), File("g", kNewG)}; }

class FakeServer {
 public:
  // Hello both ways, Request, Ready with a port of our own.
  void Handshake() {
    Expect(FrameType::Hello);
    Send(FrameType::Hello, HelloPayload());
    req_ = DecodeRequest(Expect(FrameType::Request).payload);
    listener_ = Listen("127.0.0.1", 0);
    SessionReady r;
    r.data_port = LocalPort(listener_.get());
    r.data_host = "127.0.0.1";
    std::string out;
    EncodeReady(r, out);
    Send(FrameType::Ready, out);
  }

  void SendManifest(const std::vector<RawEntry>& es) {
    Send(FrameType::ManifestBatch, EncodeRawEntries(es));
    Send(FrameType::ManifestEnd, U64Payload(es.size()));
  }

  // The indices the client asks for (SendList frames until Done).
  std::vector<int64_t> ReadSendList() {
    std::vector<int64_t> idx;
    for (;;) {
      RawFrame f = Next();
      if (f.type == FrameType::Done) return idx;
      if (f.type != FrameType::SendList) Fail("expected SendList, got " + std::string(FrameTypeName(f.type)));
      DecodeIndexList(f.payload, 1u << 20, idx);
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

  // FileBegin, FileData, FileEnd for a file sent honestly.
  void SendFile(int64_t index, std::string_view content) {
    DataFrame(FrameType::FileBegin, FileBeginPayload(index, content.size()));
    DataFrame(FrameType::FileData, content);
    DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(content)));
  }

  // Ends the data stream, waits for the receiver to close it, then Result and the client's Done.
  void FinishClean(const std::vector<SessionReport>& reports = {}) {
    DataFrame(FrameType::Done, {});
    ::shutdown(data_.get(), SHUT_WR);
    char sink[64];
    while (ReadFully(data_.get(), sink, 1)) {
    }
    for (const SessionReport& r : reports) {
      std::string out;
      EncodeReport(r, out);
      Send(FrameType::Report, out);
    }
    std::string stats;
    EncodeStats({{"entries", 3}}, stats);
    Send(FrameType::Result, stats);
    DrainControl();
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
  SessionRequest req_;
  UniqueFd listener_;
  UniqueFd data_;
};

struct ClientCase {
  std::string name;
  int want_exit;
  std::function<void(FakeServer&)> peer;
  std::map<std::string, std::string> new_files;  // paths the run may create, with content
  bool dst_symlink_to_canary = false;            // DST/s -> ../canary before the run
  std::string want_message;                       // expected in stderr
};

// The manifest is hostile; the client must refuse it before it changes anything.
ClientCase BadManifest(std::string name, std::vector<RawEntry> es, std::string msg) {
  return {std::move(name), 12, [es](FakeServer& s) {
            s.Handshake();
            s.SendManifest(es);
            s.DrainControl();
          }, {}, false, std::move(msg)};
}

// A clean manifest; `data` misbehaves on the data connection after the client's SendList
// (which, for GoodManifest, is {1: f, 2: g}).
ClientCase BadData(std::string name, int want, std::function<void(FakeServer&)> data, std::string msg,
                   std::map<std::string, std::string> may_create = {}) {
  return {std::move(name), want, [data](FakeServer& s) {
            s.Handshake();
            s.SendManifest(GoodManifest());
            if (s.ReadSendList() != std::vector<int64_t>{1, 2}) FakeServer::Fail("unexpected SendList");
            s.AcceptData();
            data(s);
          }, std::move(may_create), false, std::move(msg)};
}

const std::vector<ClientCase>& ClientCases() {
  static const std::vector<ClientCase> cases = [] {
    const char* c = std::getenv("KTSYNC_FAKE_CANARY");
    std::string canary = c ? c : "/nonexistent-canary";
    std::vector<ClientCase> v;
    // The baseline: the fake is a correct server, and the run is clean.
    v.push_back({"honest", 0, [](FakeServer& s) {
                   s.Handshake();
                   s.SendManifest(GoodManifest());
                   s.ReadSendList();
                   s.AcceptData();
                   s.SendFile(1, kNewF);
                   s.SendFile(2, kNewG);
                   s.FinishClean();
                 }, {{"f", kNewF}, {"g", kNewG}}, false, ""});
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
    v.push_back(BadManifest("bad_link_leader", {Dir(""), File("f", "x"), {"g", EntryType::File, "y", "", {}, 7}},
                            "leader"));
    v.push_back(BadManifest("empty_symlink_target", {Dir(""), Link("s", "")}, "empty symlink target"));
    v.push_back({"huge_entry_count", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}, 0xFFFFFFFFu));
                   s.DrainControl();
                 }, {}, false, "count"});
    v.push_back({"huge_frame_length", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.SendRaw(Header(static_cast<uint8_t>(FrameType::ManifestBatch), 0xFFFFFFFFu));
                   s.DrainControl();
                 }, {}, false, "limit"});
    v.push_back({"unknown_frame_type", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.SendRaw(Header(200, 0));
                   s.DrainControl();
                 }, {}, false, "unknown frame type"});
    v.push_back({"manifest_count_mismatch", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.Send(FrameType::ManifestBatch, EncodeRawEntries(GoodManifest()));
                   s.Send(FrameType::ManifestEnd, U64Payload(2));
                   s.DrainControl();
                 }, {}, false, "count"});
    v.push_back({"wrong_phase_file_data_on_control", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.Send(FrameType::FileBegin, FileBeginPayload(0, 0));
                   s.DrainControl();
                 }, {}, false, "unexpected FileBegin"});
    v.push_back({"wrong_phase_result_before_manifest", 12, [](FakeServer& s) {
                   s.Handshake();
                   std::string stats;
                   EncodeStats({{"entries", 1}}, stats);
                   s.Send(FrameType::Result, stats);
                   s.DrainControl();
                 }, {}, false, "unexpected Result"});
    v.push_back({"truncated_control_stream", 10, [](FakeServer& s) {
                   s.Handshake();
                   std::string batch = EncodeRawEntries(GoodManifest());
                   s.SendRaw(Header(static_cast<uint8_t>(FrameType::ManifestBatch), static_cast<uint32_t>(batch.size())) +
                             batch.substr(0, batch.size() / 2));
                   ::_exit(0);
                 }, {}, false, "closed"});
    // The same size and another mtime make the client ask for f's hash; the reply lies.
    v.push_back({"hash_reply_out_of_range", 12, [](FakeServer& s) {
                   s.Handshake();
                   std::string same_size(kOldF.size(), 'z');
                   s.SendManifest({Dir(""), File("f", same_size)});
                   s.Expect(FrameType::HashRequest);
                   std::string out;
                   EncodeHashReply(std::vector<HashReplyItem>{{99, HashOf("x")}}, out);
                   s.Send(FrameType::HashReply, out);
                   s.DrainControl();
                 }, {}, false, "out of range"});
    v.push_back(BadData("file_not_requested", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(0, 0));  // the root dir
                  s.DrainControl();
                }, "did not ask for"));
    v.push_back(BadData("file_index_out_of_range", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1000000, 1));
                  s.DrainControl();
                }, "out of range"));
    v.push_back(BadData("file_index_negative", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(-2, 1));
                  s.DrainControl();
                }, "out of range"));
    v.push_back(BadData("file_sent_twice", 12, [](FakeServer& s) {
                  s.SendFile(1, kNewF);
                  s.SendFile(1, kNewF);
                  s.DrainControl();
                }, "twice", {{"f", kNewF}}));
    v.push_back(BadData("size_differs_from_manifest", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, 1u << 30));
                  s.DrainControl();
                }, "announced size"));
    v.push_back(BadData("file_longer_than_announced", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataFrame(FrameType::FileData, kNewF + "EXTRA BYTES");
                  s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF + "EXTRA BYTES")));
                  s.DrainControl();
                }, "longer than announced"));
    v.push_back(BadData("file_shorter_than_announced", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataFrame(FrameType::FileData, kNewF.substr(0, 2));
                  s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF.substr(0, 2))));
                  s.DrainControl();
                }, "shorter than announced"));
    v.push_back(BadData("huge_data_frame", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataRaw(Header(static_cast<uint8_t>(FrameType::FileData), 0xFFFFFFF0u));
                  s.DrainControl();
                }, "limit"));
    v.push_back(BadData("unknown_file_end_flags", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataFrame(FrameType::FileData, kNewF);
                  s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF), 0x80));
                  s.DrainControl();
                }, "flags"));
    // Content that does not match FileEnd's hash: f fails (23), g still arrives, f keeps its
    // old content and "keep" is not deleted (an error happened).
    v.push_back(BadData("wrong_hash", 23, [](FakeServer& s) {
                  std::string evil = std::string(kNewF.size(), 'E');
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, evil.size()));
                  s.DataFrame(FrameType::FileData, evil);
                  s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF)));
                  s.SendFile(2, kNewG);
                  s.FinishClean();
                }, "f", {{"g", kNewG}}));
    // The server "forgets" f and reports nothing: the run must not look clean, and since an
    // expected file is missing, nothing may be deleted.
    v.push_back(BadData("silently_skips_a_file", 23, [](FakeServer& s) {
                  s.SendFile(2, kNewG);
                  s.FinishClean();
                }, "were not sent", {{"g", kNewG}}));
    // The sender gives up on f (discard flag: it changed while being read) and says so.
    v.push_back(BadData("discarded_file_is_reported", 24, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataFrame(FrameType::FileData, kNewF);
                  s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf(kNewF), kFileEndDiscard));
                  s.SendFile(2, kNewG);
                  s.FinishClean({{SessionReport::Vanished, "f", "f: changed while being sent"}});
                }, "changed while being sent", {{"g", kNewG}}));
    v.push_back(BadData("truncated_mid_file", 10, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, kNewF.size()));
                  s.DataFrame(FrameType::FileData, kNewF.substr(0, 3));
                  ::_exit(0);
                }, "closed"));
    v.push_back(BadData("data_frame_outside_file", 12, [](FakeServer& s) {
                  s.DataFrame(FrameType::FileData, "stray");
                  s.DrainControl();
                }, "outside a file"));
    v.push_back({"error_frame_with_escapes", 11, [](FakeServer& s) {
                   s.Handshake();
                   std::string out;
                   EncodeError({ExitCode::FileIo, "\x1b[2J\x1b]0;owned\x07red\r\nline two\x9b" "31m"}, out);
                   s.Send(FrameType::Error, out);
                   s.DrainControl();
                 }, {}, false, "red"});
    v.push_back({"error_frame_exit_code_zero", 12, [](FakeServer& s) {
                   s.Handshake();
                   s.Send(FrameType::Error, std::string("\0\2\0ok", 5));
                   s.DrainControl();
                 }, {}, false, "exit code 0"});
    // Peer text reaches the user's terminal in Report frames and in messages naming the
    // peer's file names: escape sequences in either must arrive defused.
    v.push_back({"report_with_escapes", 23, [](FakeServer& s) {
                   s.Handshake();
                   s.SendManifest(GoodManifest());
                   s.ReadSendList();
                   s.AcceptData();
                   s.SendFile(1, kNewF);
                   s.SendFile(2, kNewG);
                   s.FinishClean({{SessionReport::Failed, "g\x1b[8m",
                                   "\x1b]2;owned\x07\x1b[2Jcannot \xc2\x9b" "1mread g\x9b" "0m"}});
                 }, {{"f", kNewF}, {"g", kNewG}}, false, "read g"});
    v.push_back({"escape_in_failing_file_name", 23, [](FakeServer& s) {
                   s.Handshake();
                   s.SendManifest({Dir(""), File("\x1b]2;owned\x07\x1b[2J", "12345")});
                   s.ReadSendList();
                   s.AcceptData();
                   s.DataFrame(FrameType::FileBegin, FileBeginPayload(1, 5));
                   s.DataFrame(FrameType::FileData, "EVIL!");
                   s.DataFrame(FrameType::FileEnd, FileEndPayload(HashOf("12345")));
                   s.FinishClean();
                 }, {}, false, "owned"});
    // A legitimate tree whose symlink points outside: it is created verbatim and never
    // followed; DST/s (a symlink into the canary) is replaced by a real dir before s/x lands.
    v.push_back({"replace_symlink_to_outside", 0, [](FakeServer& s) {
                   s.Handshake();
                   s.SendManifest({Dir(""), File("f", kNewF), Link("out", "../canary/secret"), Dir("s"),
                                   File("s/pwned", "written beneath DST\n")});
                   std::vector<int64_t> want = s.ReadSendList();
                   s.AcceptData();
                   for (int64_t i : want) {
                     if (i == 1) s.SendFile(1, kNewF);
                     else if (i == 4) s.SendFile(4, "written beneath DST\n");
                   }
                   s.FinishClean();
                 }, {{"f", kNewF}, {"s/pwned", "written beneath DST\n"}}, true, ""});
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

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kLimitMemory = false;  // ASan reserves terabytes of address space
#else
constexpr bool kLimitMemory = true;
#endif

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
        << st.st_size << " ";
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

// ---- hostile server against the real client ----------------------------------------

class HostileServer : public ::testing::TestWithParam<std::string> {};

TEST_P(HostileServer, ClientRefusesCleanlyAndChangesNothingOutside) {
  ::signal(SIGPIPE, SIG_IGN);
  const ClientCase* cc = nullptr;
  for (const ClientCase& c : ClientCases())
    if (c.name == GetParam()) cc = &c;
  ASSERT_NE(cc, nullptr);

  TempDir t{"ktsync-hostile"};
  fs::path work = t.path() / "work", dst = work / "dst", canary = work / "canary";
  fs::create_directories(dst);
  fs::create_directories(canary / "sub");
  WriteFile(canary / "secret", "canary: must never change\n");
  WriteFile(canary / "sub" / "x", "deeper canary\n");
  WriteFile(dst / "f", kOldF);
  WriteFile(dst / "keep", kOldKeep);
  if (cc->dst_symlink_to_canary) fs::create_directory_symlink("../canary", dst / "s");
  auto outside_before = Snapshot(t.path(), {dst, t.path() / "state", t.path() / "out", t.path() / "err"});

  std::string ssh = "env KTSYNC_FAKE_PEER=" + cc->name + " KTSYNC_FAKE_CANARY=" + canary.string() + " " + SelfExe();
  Child c = Spawn({KtsyncBin(), "mirror", "--no-encryption", "--streams", "1", "--no-progress", "--state-dir",
                   (t.path() / "state").string(), "-e", ssh, "fakehost:/src", dst.string()},
                  {}, false, (t.path() / "out").string(), (t.path() / "err").string());
  int rc = c.Wait(60000);
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

  EXPECT_EQ(Snapshot(t.path(), {dst, t.path() / "state", t.path() / "out", t.path() / "err"}), outside_before)
      << "something outside DST changed";
  std::map<std::string, std::vector<std::string>> allowed = {{"f", {kOldF}}, {"keep", {kOldKeep}}};
  for (const auto& [path, content] : cc->new_files) allowed[path].push_back(content);
  ExpectDstSound(dst, allowed);
  if (cc->want_exit != 0) {
    EXPECT_TRUE(fs::exists(dst / "keep")) << "a deletion ran after an error";
  }
  if (cc->want_exit == 0) {
    EXPECT_EQ(ReadFileOr(dst / "f"), kNewF);
    EXPECT_FALSE(fs::exists(dst / "keep"));
  }
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
    WriteFile(dst_ / "old", "old dst file\n");
    fs::create_directories(canary_);
    WriteFile(canary_ / "secret", "canary\n");
    fs::create_directory_symlink("../canary", dst_ / "evil");  // planted in DST by someone
    before_ = Snapshot(t_.path(), {t_.path() / "state", t_.path() / "err"});
  }

  void StartServer() {
    server_ = Spawn({KtsyncBin(), "serve", "--stdio"},
                    {"KTSYNC_STATE_DIR=" + (t_.path() / "state").string(), "SSH_CONNECTION=127.0.0.1 40000 127.0.0.1 22"},
                    true, "", (t_.path() / "err").string());
  }

  bool Send(FrameType t, std::string_view payload) { return SendFrame(server_.to.get(), t, payload); }
  bool SendRaw(std::string_view bytes) { return WriteFully(server_.to.get(), bytes); }
  std::optional<RawFrame> Read() { return ReadFrame(server_.from.get()); }

  void Hello() {
    StartServer();
    auto h = Read();
    ASSERT_TRUE(h && h->type == FrameType::Hello);
    ASSERT_TRUE(Send(FrameType::Hello, HelloPayload()));
  }

  static std::string RequestPayload(ServerRole role, const std::string& path) {
    SessionRequest r;
    r.role = role;
    r.path = path;
    r.no_encryption = true;
    r.streams = 1;
    std::string out;
    EncodeRequest(r, out);
    return out;
  }

  // Hello, Request, Ready and the server's manifest.
  void Open(ServerRole role, const fs::path& tree) {
    Hello();
    ASSERT_TRUE(Send(FrameType::Request, RequestPayload(role, tree.string())));
    auto r = Read();
    ASSERT_TRUE(r && r->type == FrameType::Ready) << ServerLog();
    ready_ = DecodeReady(r->payload);
    for (;;) {
      auto f = Read();
      ASSERT_TRUE(f) << ServerLog();
      if (f->type == FrameType::ManifestEnd) break;
      ASSERT_EQ(f->type, FrameType::ManifestBatch);
      DecodeEntryBatch(f->payload, manifest_);
    }
  }

  int64_t IndexOf(const std::string& path) const {
    for (size_t i = 0; i < manifest_.size(); ++i)
      if (manifest_[i].path == path) return static_cast<int64_t>(i);
    return -1;
  }

  UniqueFd ConnectData() {
    UniqueFd s = ConnectTcp(ready_.data_host, ready_.data_port, 5000);
    std::string out;
    EncodeDataHello(DataHello{ready_.token, 0}, out);
    SendFrame(s.get(), FrameType::DataHello, out);
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

  // Push: our manifest (raw), our plan, then the server's Done.
  void SendPlan(const std::vector<RawEntry>& src, const std::vector<Action>& plan) {
    Send(FrameType::ManifestBatch, EncodeRawEntries(src));
    Send(FrameType::ManifestEnd, U64Payload(src.size()));
    std::string out;
    EncodePlanBatch(plan, out);
    Send(FrameType::PlanBatch, out);
    Send(FrameType::PlanEnd, U64Payload(plan.size()));
  }

  // After the data phase of a push: Reports, then Result; we say Done.
  std::vector<SessionReport> FinishPush() {
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
  Manifest manifest_;
  std::map<std::string, std::string> before_;
};

TEST_F(HostileClient, WrongMagicIsRefused) {
  StartServer();
  ASSERT_TRUE(Read());
  std::string hello = HelloPayload();
  hello[0] = 'X';
  Send(FrameType::Hello, hello);
  ExpectServerExit(5, "did not greet as ktsync");
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

// The header promises 4 GiB - 1 of payload that never comes: the server must reject the
// header itself (with our end of the pipe still open), not allocate or wait for the bytes.
TEST_F(HostileClient, HugeFrameLengthIsRejectedWithoutWaitingOrAllocating) {
  Hello();
  auto t0 = Clock::now();
  SendRaw(Header(static_cast<uint8_t>(FrameType::Request), 0xFFFFFFFFu));
  ExpectServerExit(12, "exceeds");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(HostileClient, HugeCountIsRejected) {
  Open(ServerRole::Send, src_);
  std::string out;
  ByteWriter w(out);
  w.U32(0xFFFFFFFFu);
  w.I64(1);
  Send(FrameType::HashRequest, out);
  ExpectServerExit(12, "count");
}

TEST_F(HostileClient, HashRequestOutOfRangeIsRefused) {
  Open(ServerRole::Send, src_);
  std::string out;
  EncodeIndexList(std::vector<int64_t>{static_cast<int64_t>(manifest_.size())}, out);
  Send(FrameType::HashRequest, out);
  ExpectServerExit(12, "out of range");
}

TEST_F(HostileClient, NegativeIndexIsRefused) {
  Open(ServerRole::Send, src_);
  std::string out;
  EncodeIndexList(std::vector<int64_t>{-1}, out);
  Send(FrameType::SendList, out);
  ExpectServerExit(12, "out of range");
}

TEST_F(HostileClient, SendListNamingADirectoryIsRefused) {
  Open(ServerRole::Send, src_);
  std::string out;
  EncodeIndexList(std::vector<int64_t>{IndexOf("d")}, out);
  Send(FrameType::SendList, out);
  Send(FrameType::Done, {});
  ExpectServerExit(12, "not a regular file");
}

TEST_F(HostileClient, PlanFramesInPullModeAreRefused) {
  Open(ServerRole::Send, src_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir("")}));
  ExpectServerExit(12, "unexpected ManifestBatch");
}

TEST_F(HostileClient, DataFramesOnTheControlChannelAreRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::FileBegin, FileBeginPayload(0, 0));
  ExpectServerExit(12, "unexpected FileBegin");
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

TEST_F(HostileClient, PlanDeletingTheRootIsRefused) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir("")}, {Action{ActionKind::Delete, -1, 0, 0}});
  ExpectServerExit(12, "the root cannot be deleted");
  ExpectNothingChanged();
}

TEST_F(HostileClient, PlanWithMismatchedPathsIsRefused) {
  Open(ServerRole::Receive, dst_);
  // src #1 is "old", the dst entry is "evil": an action may not pair different paths.
  SendPlan({Dir(""), File("old", "new\n")}, {Action{ActionKind::SendFile, 1, IndexOf("evil"), 0}});
  ExpectServerExit(12, "plan action");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnsafePathsInThePushedManifestAreRefused) {
  for (const std::string& bad : {std::string("../canary/pwned"), canary_.string() + "/pwned", std::string("a/../../x")}) {
    SCOPED_TRACE(bad);
    manifest_.clear();
    Open(ServerRole::Receive, dst_);
    SendPlan({Dir(""), File(bad, "pwned\n")}, {Action{ActionKind::SendFile, 1, -1, 0}});
    ExpectServerExit(12, "unsafe path");
    ExpectNothingChanged();
  }
}

TEST_F(HostileClient, DuplicateEntriesInThePushedManifestAreRefused) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir(""), File("n", "1\n"), File("n", "2\n")}, {});
  ExpectServerExit(12, "duplicated");
  ExpectNothingChanged();
}

// The end frames carry counts: a batch lost (or added) in between must end the run rather
// than shrink or grow what is applied.
TEST_F(HostileClient, PushedManifestCountMismatchIsRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir(""), File("n", "1\n")}));
  Send(FrameType::ManifestEnd, U64Payload(3));
  ExpectServerExit(12, "entry count does not match");
  ExpectNothingChanged();
}

TEST_F(HostileClient, PlanCountMismatchIsRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir(""), File("n", "1\n")}));
  Send(FrameType::ManifestEnd, U64Payload(2));
  std::string out;
  EncodePlanBatch(std::vector<Action>{Action{ActionKind::SendFile, 1, -1, 0}}, out);
  Send(FrameType::PlanBatch, out);
  Send(FrameType::PlanEnd, U64Payload(2));
  ExpectServerExit(12, "action count does not match");
  ExpectNothingChanged();
}

// Every action is valid on its own, but a plan a hundred times longer than the entries it
// names can only be an attempt to make the server hold an unbounded list.
TEST_F(HostileClient, PlanFarLongerThanItsEntriesIsRefused) {
  Open(ServerRole::Receive, dst_);
  Send(FrameType::ManifestBatch, EncodeRawEntries({Dir(""), File("old", "x\n")}));
  Send(FrameType::ManifestEnd, U64Payload(2));
  std::vector<Action> flood(1000, Action{ActionKind::MetaOnly, 1, IndexOf("old"), 0});
  std::string out;
  EncodePlanBatch(flood, out);
  Send(FrameType::PlanBatch, out);
  ExpectServerExit(12, "plan has more than");
  ExpectNothingChanged();
}

TEST_F(HostileClient, UnsortedPushedManifestIsRefused) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir(""), File("z", "1\n"), File("a", "2\n")}, {});
  ExpectServerExit(12, "out of order");
  ExpectNothingChanged();
}

// The plan "forgets" to replace DST/evil (a symlink to the canary) with a directory and
// sends evil/pwned and mkdir evil/sub. Only the no-symlinks openat2 stands between this and
// new entries in the canary: a plain openat/mkdirat of "evil/..." would follow the link.
TEST_F(HostileClient, PlanWritingThroughASymlinkIsConfined) {
  Open(ServerRole::Receive, dst_);
  const std::string payload = "pwned\n";
  std::vector<RawEntry> src = {Dir(""), Dir("evil"), File("evil/pwned", payload), Dir("evil/sub"), File("new", "fine\n")};
  SendPlan(src, {Action{ActionKind::MkDir, 3, -1, 0}, Action{ActionKind::SendFile, 2, -1, 0},
                 Action{ActionKind::SendFile, 4, -1, 0}});
  auto done = Read();
  ASSERT_TRUE(done && done->type == FrameType::Done) << ServerLog();
  UniqueFd data = ConnectData();
  for (auto [index, content] : {std::pair<int64_t, std::string>{2, payload}, {4, "fine\n"}}) {
    SendFrame(data.get(), FrameType::FileBegin, FileBeginPayload(index, content.size()));
    SendFrame(data.get(), FrameType::FileData, content);
    SendFrame(data.get(), FrameType::FileEnd, FileEndPayload(HashOf(content)));
  }
  SendFrame(data.get(), FrameType::Done, {});
  auto reports = FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(Failed(reports, "evil/pwned"));
  EXPECT_TRUE(Failed(reports, "evil/sub"));
  EXPECT_EQ(ReadFileOr(dst_ / "new"), "fine\n") << "the rest of the plan still ran";
  EXPECT_FALSE(fs::exists(canary_ / "pwned"));
  EXPECT_FALSE(fs::exists(canary_ / "sub"));
  EXPECT_TRUE(fs::is_symlink(dst_ / "evil"));
  ExpectDstSound(dst_, {{"old", {"old dst file\n"}}, {"new", {"fine\n"}}});
  ExpectOutsideUnchanged();
}

// Push data that lies: each lie is refused and leaves no trace in DST.
class HostilePushData : public HostileClient {
 protected:
  // Opens a push of one new file "n" (content `content`), returns the data connection.
  UniqueFd PushOneFile(const std::string& content) {
    Open(ServerRole::Receive, dst_);
    SendPlan({Dir(""), File("n", content)}, {Action{ActionKind::SendFile, 1, -1, 0}});
    auto done = Read();
    EXPECT_TRUE(done && done->type == FrameType::Done) << ServerLog();
    return ConnectData();
  }
  void ExpectDstUnchanged() {
    ExpectDstSound(dst_, {{"old", {"old dst file\n"}}});
    EXPECT_TRUE(fs::is_symlink(dst_ / "evil"));
    ExpectOutsideUnchanged();
  }
};

TEST_F(HostilePushData, FileLongerThanAnnouncedIsRefused) {
  UniqueFd d = PushOneFile("1234");
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
  SendFrame(d.get(), FrameType::FileData, "123456789");
  ExpectServerExit(12, "longer than announced");
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, FileNotInThePlanIsRefused) {
  UniqueFd d = PushOneFile("1234");
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(0, 0));
  ExpectServerExit(12, "did not ask for");
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, WrongHashFailsTheFileAndKeepsNothing) {
  UniqueFd d = PushOneFile("1234");
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
  SendFrame(d.get(), FrameType::FileData, "EVIL");
  SendFrame(d.get(), FrameType::FileEnd, FileEndPayload(HashOf("1234")));
  SendFrame(d.get(), FrameType::Done, {});
  auto reports = FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(Failed(reports, "n")) << "the hash mismatch is reported for n";
  ExpectDstUnchanged();
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "a deletion ran after an error";
}

// The client announces n and a deletion of "old", then sends nothing (its file became
// unreadable): the server must not delete, because the client's error is an error too.
TEST_F(HostilePushData, FileNeverSentStopsDeletions) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir(""), File("n", "1234")},
           {Action{ActionKind::SendFile, 1, -1, 0}, Action{ActionKind::Delete, -1, IndexOf("old"), 0}});
  auto done = Read();
  ASSERT_TRUE(done && done->type == FrameType::Done) << ServerLog();
  UniqueFd d = ConnectData();
  SendFrame(d.get(), FrameType::Done, {});
  FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "deleted although the sender failed a file";
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, DiscardedFileStopsDeletions) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir(""), File("n", "1234")},
           {Action{ActionKind::SendFile, 1, -1, 0}, Action{ActionKind::Delete, -1, IndexOf("old"), 0}});
  auto done = Read();
  ASSERT_TRUE(done && done->type == FrameType::Done) << ServerLog();
  UniqueFd d = ConnectData();
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
  SendFrame(d.get(), FrameType::FileData, "12");
  SendFrame(d.get(), FrameType::FileData, "34");
  SendFrame(d.get(), FrameType::FileEnd, FileEndPayload(HashOf("1234"), kFileEndDiscard));
  SendFrame(d.get(), FrameType::Done, {});
  FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(fs::exists(dst_ / "old")) << "deleted although the sender discarded a file";
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, TruncatedMidFileLeavesNoTemp) {
  UniqueFd d = PushOneFile(std::string(100000, 'x'));
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(1, 100000));
  SendFrame(d.get(), FrameType::FileData, std::string(50000, 'x'));
  d.reset();
  ExpectServerExit(10, "");
  ExpectDstUnchanged();
}

TEST_F(HostilePushData, WrongSessionTokenGetsNothing) {
  Open(ServerRole::Receive, dst_);
  SendPlan({Dir(""), File("n", "1234")}, {Action{ActionKind::SendFile, 1, -1, 0}});
  auto done = Read();
  ASSERT_TRUE(done && done->type == FrameType::Done) << ServerLog();
  {
    UniqueFd s = ConnectTcp(ready_.data_host, ready_.data_port, 5000);
    SessionToken wrong = ready_.token;
    wrong[0] ^= 1;
    std::string out;
    EncodeDataHello(DataHello{wrong, 0}, out);
    SendFrame(s.get(), FrameType::DataHello, out);
    SendFrame(s.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
    SendFrame(s.get(), FrameType::FileData, "EVIL");
    SendFrame(s.get(), FrameType::FileEnd, FileEndPayload(HashOf("EVIL")));
    char c;
    EXPECT_FALSE(ReadFully(s.get(), &c, 1, 5000)) << "the impostor's connection must be closed";
  }
  UniqueFd d = ConnectData();
  SendFrame(d.get(), FrameType::FileBegin, FileBeginPayload(1, 4));
  SendFrame(d.get(), FrameType::FileData, "1234");
  SendFrame(d.get(), FrameType::FileEnd, FileEndPayload(HashOf("1234")));
  SendFrame(d.get(), FrameType::Done, {});
  auto reports = FinishPush();
  ExpectServerExit(0, "");
  EXPECT_TRUE(reports.empty() || !Failed(reports, "n"));
  EXPECT_EQ(ReadFileOr(dst_ / "n"), "1234");
}

}  // namespace
}  // namespace ktsync
