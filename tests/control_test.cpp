// links: ktsync_transfer
#include "transfer/control.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "transfer/byte_io.h"
#include "transfer/net.h"
#include "util/error.h"

namespace ktsync {
namespace {

using std::chrono::milliseconds;

constexpr int kTimeoutMs = 5000;

struct Pair {
  std::unique_ptr<FdStream> a, b;
};

Pair SocketPair() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw SysError("socketpair", errno);
  SetIoTimeout(sv[0], 30);  // a hang becomes a Timeout error, not a stuck test
  SetIoTimeout(sv[1], 30);
  return {std::make_unique<FdStream>(UniqueFd(sv[0]), "peer A"), std::make_unique<FdStream>(UniqueFd(sv[1]), "peer B")};
}

template <typename Fn>
void ExpectError(ExitCode code, const std::string& needle, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

Entry Make(std::string path, EntryType type, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  e.uid = 1000;
  e.gid = 1001;
  e.mtime_ns = 1'600'000'000'123'456'789;
  return e;
}

// Names a shell or a terminal would choke on; all valid on Linux and on the wire.
Manifest OddManifest() {
  Manifest m;
  m.push_back(Make("", EntryType::Dir, 0755));
  m.push_back(Make("\x01" "ctl", EntryType::File));
  m.push_back(Make(" leading space", EntryType::File));
  m.push_back(Make("-rf", EntryType::File));
  m.push_back(Make("a", EntryType::Dir, 0700));
  m.push_back(Make("a/line\nbreak", EntryType::File, 0600));
  m.push_back(Make("a/tab\there", EntryType::Symlink, 0777));
  m.back().set_link_target("../\xff\xfe target with spaces");
  m.push_back(Make("a.b", EntryType::Fifo));
  m.push_back(Make("dev", EntryType::CharDev, 0600));
  m.back().set_rdev(0x0501);
  m.push_back(Make("disk", EntryType::BlockDev, 0660));
  m.back().set_rdev(0x0801);
  m.push_back(Make("invalid-utf8-\xc3\x28", EntryType::File));
  m.push_back(Make("sock", EntryType::Socket));
  m.push_back(Make(std::string(255, 'L'), EntryType::File));
  m.push_back(Make("\xe2\x80\xae" "txt.exe", EntryType::File));  // right-to-left override
  m.push_back(Make("\xff", EntryType::Dir));
  m.push_back(Make("\xff/hard", EntryType::File));
  for (Entry& e : m)
    if (e.IsFile()) e.size = e.path.size() * 1000 + 1;
  std::stable_sort(m.begin(), m.end(), [](const Entry& a, const Entry& b) { return PathLess(a.path, b.path); });
  auto at = [&m](std::string_view path) -> Entry& {
    return *std::find_if(m.begin(), m.end(), [&](const Entry& e) { return e.path == path; });
  };
  Entry& leader = at("\x01" "ctl");
  leader.hash = Hash128{0x1122334455667788ull, 0x99aabbccddeeff00ull};
  Entry& follower = at("\xff/hard");
  follower.link_leader = &leader - m.data();
  follower.size = leader.size;
  return m;
}

void ExpectSameOnTheWire(const Manifest& got, const Manifest& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].path);
    EXPECT_EQ(got[i].path, want[i].path);
    EXPECT_EQ(got[i].type, want[i].type);
    EXPECT_EQ(got[i].mode, want[i].mode);
    EXPECT_EQ(got[i].uid, want[i].uid);
    EXPECT_EQ(got[i].gid, want[i].gid);
    EXPECT_EQ(got[i].size, want[i].size);
    EXPECT_EQ(got[i].mtime_ns, want[i].mtime_ns);
    EXPECT_EQ(got[i].link_target(), want[i].link_target());
    EXPECT_EQ(got[i].rdev(), want[i].rdev());
    EXPECT_EQ(got[i].hash, want[i].hash);
    EXPECT_EQ(got[i].link_leader, want[i].link_leader);
  }
}

Manifest SendAndReceive(const Manifest& m) {
  Pair p = SocketPair();
  std::exception_ptr send_error;
  std::thread sender([&] {
    try {
      Control c(*p.a);
      SendManifest(c, m);
    } catch (...) {
      send_error = std::current_exception();
    }
  });
  Control c(*p.b);
  Manifest got;
  try {
    got = ReceiveManifest(c);
  } catch (...) {
    sender.join();
    throw;
  }
  sender.join();
  if (send_error) std::rethrow_exception(send_error);
  return got;
}

TEST(ControlManifestTest, OddNamesRoundTrip) {
  Manifest m = OddManifest();
  ExpectSameOnTheWire(SendAndReceive(m), m);
}

TEST(ControlManifestTest, RootOnlyManifestRoundTrips) {
  Manifest m = {Make("", EntryType::Dir, 0755)};
  ExpectSameOnTheWire(SendAndReceive(m), m);
}

TEST(ControlManifestTest, ManifestLargerThanOneBatchRoundTrips) {
  Manifest m = {Make("", EntryType::Dir, 0755)};
  char name[16];
  for (uint32_t i = 0; i < kMaxBatchEntries + 5000; ++i) {
    std::snprintf(name, sizeof name, "f%07u", i);
    m.push_back(Make(name, EntryType::File));
    m.back().size = i;
  }
  Manifest got = SendAndReceive(m);
  ASSERT_EQ(got.size(), m.size());
  EXPECT_EQ(got.back().path, m.back().path);
  EXPECT_EQ(got.back().size, m.back().size);
}

// Frames written by hand, then ReceiveManifest on the other end.
class ManifestScript {
 public:
  ManifestScript() : p_(SocketPair()), writer_(*p_.a) {}
  void Batch(const Manifest& entries) {
    std::string out;
    ASSERT_EQ(EncodeEntryBatch(entries, out), entries.size());
    writer_.Write(FrameType::ManifestBatch, out);
  }
  void End(uint64_t count) {
    std::string out;
    ByteWriter(out).U64(count);
    writer_.Write(FrameType::ManifestEnd, out);
  }
  void Frame(FrameType t, std::string_view payload) { writer_.Write(t, payload); }
  Manifest Receive() {
    p_.a.reset();  // the receiver sees the end of the stream after the script
    Control c(*p_.b);
    return ReceiveManifest(c);
  }

 private:
  Pair p_;
  FrameWriter writer_;
};

Manifest Three() { return {Make("", EntryType::Dir, 0755), Make("a", EntryType::File), Make("b", EntryType::File)}; }

TEST(ControlManifestTest, ScriptedManifestWithTheRightCountIsAccepted) {
  ManifestScript s;
  Manifest m = Three();
  s.Batch({m[0], m[1]});
  s.Batch({m[2]});
  s.End(3);
  ExpectSameOnTheWire(s.Receive(), m);
}

TEST(ControlManifestTest, RejectsACountMismatchInManifestEnd) {
  for (uint64_t count : {uint64_t{2}, uint64_t{4}, uint64_t{0}, UINT64_MAX}) {
    ManifestScript s;
    s.Batch(Three());
    s.End(count);
    ExpectError(ExitCode::StreamData, "entry count does not match", [&] { s.Receive(); });
  }
}

TEST(ControlManifestTest, RejectsAManifestEndWithExtraBytes) {
  ManifestScript s;
  s.Batch(Three());
  std::string out;
  ByteWriter(out).U64(3);
  out += 'x';
  s.Frame(FrameType::ManifestEnd, out);
  ExpectError(ExitCode::StreamData, "trailing", [&] { s.Receive(); });
}

TEST(ControlManifestTest, RejectsAnEmptyList) {
  ManifestScript s;
  s.End(0);
  ExpectError(ExitCode::StreamData, "empty file list", [&] { s.Receive(); });
}

TEST(ControlManifestTest, RejectsEntriesOutOfOrderAcrossBatches) {
  ManifestScript s;
  Manifest m = Three();
  s.Batch({m[0], m[2]});
  s.Batch({m[1]});
  s.End(3);
  ExpectError(ExitCode::StreamData, "out of order", [&] { s.Receive(); });
}

TEST(ControlManifestTest, PeersErrorFrameEndsTheReceiveWithItsCode) {
  ManifestScript s;
  s.Batch(Three());
  std::string out;
  EncodeError(ErrorMessage{ExitCode::SelectFiles, "cannot read SRC"}, out);
  s.Frame(FrameType::Error, out);
  ExpectError(ExitCode::SelectFiles, "cannot read SRC", [&] { s.Receive(); });
}

TEST(ControlManifestTest, RejectsAnUnexpectedFrame) {
  ManifestScript s;
  s.Batch(Three());
  s.Frame(FrameType::PlanEnd, {});
  ExpectError(ExitCode::StreamData, "unexpected PlanEnd", [&] { s.Receive(); });
}

TEST(ControlManifestTest, ConnectionClosedBeforeTheEndIsASocketError) {
  ManifestScript s;
  s.Batch(Three());
  ExpectError(ExitCode::SocketIo, "closed", [&] { s.Receive(); });
}

// ---- Hello -------------------------------------------------------------------------------

TEST(ControlHelloTest, BothSidesAgreeOnTheVersion) {
  Pair p = SocketPair();
  Agreement theirs{};
  std::exception_ptr error;
  std::thread other([&] {
    try {
      Control c(*p.a);
      theirs = ExchangeHello(c);
    } catch (...) {
      error = std::current_exception();
    }
  });
  Control c(*p.b);
  Agreement ours = ExchangeHello(c);
  other.join();
  ASSERT_FALSE(error);
  EXPECT_EQ(ours.version, kProtocolVersion);
  EXPECT_EQ(theirs.version, kProtocolVersion);
  EXPECT_EQ(ours.features, theirs.features);
}

TEST(ControlHelloTest, AlreadyReadPeerHelloIsUsedWithoutReadingAgain) {
  Pair p = SocketPair();
  Control client(*p.a);
  std::string out;
  EncodeHello(Hello{}, out);
  client.writer.Write(FrameType::Hello, out);
  // The daemon reads the first frame to tell a control connection from a data connection.
  Control server(*p.b);
  Hello first = DecodeHello(server.reader.Expect(FrameType::Hello).payload);
  EXPECT_EQ(ExchangeHello(server, first).version, kProtocolVersion);
  // The server's own Hello reached the client.
  EXPECT_EQ(DecodeHello(client.reader.Expect(FrameType::Hello).payload), Hello{});
}

TEST(ControlHelloTest, PeerThatIsNotKtsyncIsRefused) {
  Pair p = SocketPair();
  p.a->WriteAll("SSH-2.0-OpenSSH_9.2\r\n", 21);
  Control c(*p.b);
  ExpectError(ExitCode::StreamData, "unknown frame type", [&] { ExchangeHello(c); });
}

TEST(ControlHelloTest, ErrorFrameInsteadOfHelloCarriesThePeersMessage) {
  Pair p = SocketPair();
  std::string out;
  EncodeError(ErrorMessage{ExitCode::AuthFailed, "daemon refused"}, out);
  FrameWriter(*p.a).Write(FrameType::Error, out);
  Control c(*p.b);
  ExpectError(ExitCode::AuthFailed, "daemon refused", [&] { ExchangeHello(c); });
}

// ---- Data connections --------------------------------------------------------------------

DataSecurity RandomKeySecurity() {
  DataSecurity sec;
  EXPECT_EQ(RAND_bytes(sec.key.data(), static_cast<int>(sec.key.size())), 1);
  return sec;
}

SessionToken RandomToken() {
  SessionToken t;
  EXPECT_EQ(RAND_bytes(t.data(), static_cast<int>(t.size())), 1);
  return t;
}

struct Accepted {
  std::unique_ptr<ByteStream> server;
  std::unique_ptr<ByteStream> client;
  std::exception_ptr client_error;
  std::string why;
};

Accepted ConnectPair(const DataSecurity& server_sec, const DataSecurity& client_sec, const SessionToken& server_token,
                     const SessionToken& client_token, uint32_t stream_no = 3) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  uint16_t port = LocalPort(listener.get());
  Accepted out;
  std::thread client([&] {
    try {
      out.client = OpenDataConnection("127.0.0.1", port, client_sec, client_token, stream_no, kTimeoutMs);
    } catch (...) {
      out.client_error = std::current_exception();
    }
  });
  UniqueFd sock = AcceptWithTimeout(listener.get(), kTimeoutMs);
  if (sock) out.server = AcceptDataConnection(std::move(sock), server_sec, server_token, kTimeoutMs, &out.why);
  client.join();
  return out;
}

// Frames flow both ways on an accepted data connection.
void ExpectUsable(Accepted& a) {
  ASSERT_TRUE(a.server) << a.why;
  ASSERT_TRUE(a.client);
  std::string big(300'000, 'z');
  std::thread t([&] { FrameWriter(*a.client).Write(FrameType::FileData, big); });
  FrameReader r(*a.server);
  Frame f = r.Expect(FrameType::FileData);
  EXPECT_EQ(f.payload, big);
  t.join();
  FrameWriter(*a.server).Write(FrameType::Done, "rotate");
  FrameReader cr(*a.client);
  EXPECT_EQ(cr.Expect(FrameType::Done).payload, "rotate");
}

TEST(ControlDataConnectionTest, TlsConnectionWithTheRightKeyAndTokenIsAccepted) {
  DataSecurity sec = RandomKeySecurity();
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(sec, sec, token, token);
  ASSERT_FALSE(a.client_error);
  ExpectUsable(a);
  EXPECT_NE(DescribeEncryption(*a.server, true).find("TLS"), std::string::npos);
  EXPECT_NE(DescribeEncryption(*a.client, false).find("TLS"), std::string::npos);
}

TEST(ControlDataConnectionTest, TlsWithoutKernelOffloadIsAcceptedToo) {
  DataSecurity sec = RandomKeySecurity();
  sec.allow_ktls = false;
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(sec, sec, token, token);
  ASSERT_FALSE(a.client_error);
  ExpectUsable(a);
  EXPECT_NE(DescribeEncryption(*a.server, true).find("userspace TLS"), std::string::npos);
}

TEST(ControlDataConnectionTest, PlainConnectionWithTheRightTokenIsAccepted) {
  DataSecurity sec;
  sec.encrypt = false;
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(sec, sec, token, token);
  ASSERT_FALSE(a.client_error);
  ExpectUsable(a);
  EXPECT_NE(DescribeEncryption(*a.server, true).find("none"), std::string::npos);
}

TEST(ControlDataConnectionTest, WrongTokenIsRefusedWithAReason) {
  for (bool encrypt : {true, false}) {
    SCOPED_TRACE(encrypt);
    DataSecurity sec = RandomKeySecurity();
    sec.encrypt = encrypt;
    SessionToken token = RandomToken();
    SessionToken wrong = token;
    wrong[15] ^= 1;
    Accepted a = ConnectPair(sec, sec, token, wrong);
    EXPECT_FALSE(a.server);
    EXPECT_NE(a.why.find("wrong session token"), std::string::npos) << a.why;
  }
}

TEST(ControlDataConnectionTest, WrongKeyIsRefused) {
  DataSecurity server_sec = RandomKeySecurity();
  DataSecurity client_sec = RandomKeySecurity();
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(server_sec, client_sec, token, token);
  EXPECT_FALSE(a.server);
  EXPECT_FALSE(a.why.empty());
  EXPECT_TRUE(a.client_error || !a.client) << "the client must not get a working connection";
}

TEST(ControlDataConnectionTest, WrongIdentityIsRefused) {
  DataSecurity sec = RandomKeySecurity();
  DataSecurity client_sec = sec;
  client_sec.identity = kDaemonIdentity;
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(sec, client_sec, token, token);
  EXPECT_FALSE(a.server);
  EXPECT_FALSE(a.why.empty());
}

TEST(ControlDataConnectionTest, PlaintextClientAgainstATlsServerIsRefused) {
  DataSecurity tls = RandomKeySecurity();
  DataSecurity plain;
  plain.encrypt = false;
  SessionToken token = RandomToken();
  Accepted a = ConnectPair(tls, plain, token, token);
  EXPECT_FALSE(a.server);
  EXPECT_FALSE(a.why.empty());
}

TEST(ControlDataConnectionTest, SilentClientIsDroppedAfterTheTimeout) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  UniqueFd client = ConnectTcp("127.0.0.1", LocalPort(listener.get()), kTimeoutMs);
  UniqueFd sock = AcceptWithTimeout(listener.get(), kTimeoutMs);
  ASSERT_TRUE(sock);
  DataSecurity plain;
  plain.encrypt = false;
  std::string why;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(AcceptDataConnection(std::move(sock), plain, RandomToken(), 500, &why));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_FALSE(why.empty());
}

TEST(ControlDataConnectionTest, TokensCompareByEveryByte) {
  SessionToken a = RandomToken();
  SessionToken b = a;
  EXPECT_TRUE(TokensEqual(a, b));
  for (size_t i = 0; i < b.size(); ++i) {
    b = a;
    b[i] ^= 0x80;
    EXPECT_FALSE(TokensEqual(a, b)) << i;
  }
}

// ---- DataQueue and DataListener ----------------------------------------------------------

TEST(DataQueueTest, PopTimesOutWithATimeoutError) {
  DataQueue q;
  auto t0 = std::chrono::steady_clock::now();
  ExpectError(ExitCode::Timeout, "no data connection arrived", [&] { q.Pop(milliseconds(100)); });
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(90));
}

TEST(DataQueueTest, PopReturnsConnectionsInArrivalOrder) {
  DataQueue q;
  Pair p1 = SocketPair();
  Pair p2 = SocketPair();
  ByteStream* first = p1.a.get();
  ByteStream* second = p2.a.get();
  q.Push(std::move(p1.a));
  q.Push(std::move(p2.a));
  EXPECT_EQ(q.Pop(milliseconds(100)).get(), first);
  EXPECT_EQ(q.Pop(milliseconds(100)).get(), second);
}

TEST(DataQueueTest, PopWakesWhenAConnectionArrives) {
  DataQueue q;
  Pair p = SocketPair();
  std::thread pusher([&] {
    std::this_thread::sleep_for(milliseconds(50));
    q.Push(std::move(p.a));
  });
  EXPECT_TRUE(q.Pop(milliseconds(5000)));
  pusher.join();
}

TEST(DataQueueTest, CloseWakesWaitersWithTheReason) {
  DataQueue q;
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    q.Close("session ended");
  });
  ExpectError(ExitCode::SocketIo, "session ended", [&] { q.Pop(milliseconds(5000)); });
  closer.join();
}

TEST(DataListenerTest, QueuesConnectionsWithTheRightTokenAndIgnoresOthers) {
  DataSecurity sec = RandomKeySecurity();
  SessionToken token = RandomToken();
  SessionToken wrong = RandomToken();
  DataListener listener("127.0.0.1", 0, sec, token);
  ASSERT_NE(listener.port(), 0);

  auto bad = OpenDataConnection("127.0.0.1", listener.port(), sec, wrong, 0, kTimeoutMs);
  ExpectError(ExitCode::Timeout, "no data connection arrived", [&] { listener.queue().Pop(milliseconds(700)); });

  auto good = OpenDataConnection("127.0.0.1", listener.port(), sec, token, 1, kTimeoutMs);
  std::unique_ptr<ByteStream> accepted = listener.queue().Pop(milliseconds(kTimeoutMs));
  ASSERT_TRUE(accepted);
  FrameWriter(*good).Write(FrameType::FileBegin, "hello");
  EXPECT_EQ(FrameReader(*accepted).Expect(FrameType::FileBegin).payload, "hello");

  // Nothing else was queued: the wrong-token connection was dropped, not kept for later.
  ExpectError(ExitCode::Timeout, "no data connection arrived", [&] { listener.queue().Pop(milliseconds(300)); });
  // And it was closed: its reader sees the end.
  char c;
  EXPECT_THROW(
      {
        if (bad->ReadSome(&c, 1) == 0) throw Error(ExitCode::SocketIo, "closed");
      },
      Error);
}

TEST(DataListenerTest, ScannerThatSendsGarbageIsIgnoredAndTheListenerKeepsWorking) {
  DataSecurity sec = RandomKeySecurity();
  SessionToken token = RandomToken();
  DataListener listener("127.0.0.1", 0, sec, token);
  {
    UniqueFd scanner = ConnectTcp("127.0.0.1", listener.port(), kTimeoutMs);
    ASSERT_EQ(send(scanner.get(), "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
  }
  auto good = OpenDataConnection("127.0.0.1", listener.port(), sec, token, 0, kTimeoutMs);
  EXPECT_TRUE(listener.queue().Pop(milliseconds(kTimeoutMs)));
}

}  // namespace
}  // namespace ktsync
