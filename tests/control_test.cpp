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

#include "stream_pair.h"

namespace ktsync {
namespace {

using std::chrono::milliseconds;

constexpr int kTimeoutMs = 5000;

// ---- Hello -------------------------------------------------------------------------------

TEST(ControlHelloTest, BothSidesAgreeOnTheVersion) {
  StreamPair p = SocketPair();
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
  StreamPair p = SocketPair();
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

// ---- --files-from list --------------------------------------------------------------------

// A list beyond the receiver's caps is read to its end and dropped before the refusal, so
// the client, still writing it, gets to read why (and the receiver held no more than a frame).
TEST(ControlFileListTest, AListBeyondTheCapsIsReadToItsEndThenRefused) {
  StreamPair p = SocketPair();
  std::vector<ListedPath> paths;
  for (int i = 0; i < 100000; ++i) paths.push_back({"p" + std::to_string(1000000 + i), false});
  FileList list(std::move(paths), false);
  std::thread client([&] {
    Control c(*p.a);
    SendFileList(c, list);
    c.writer.Write(FrameType::Done, {});
  });
  Control server(*p.b);
  try {
    ReceiveFileList(server, false, FileListDecoder(1000, 1 << 20, "this ktsync daemon"));
    ADD_FAILURE() << "the list was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("takes at most 1000 paths"), std::string::npos) << e.what();
  }
  EXPECT_EQ(server.reader.Expect(FrameType::Done).payload, "");  // the whole list was read
  client.join();
}

TEST(ControlFileListTest, SkipFileListReadsToTheEnd) {
  StreamPair p = SocketPair();
  FileList list({{"a", false}, {"b", false}}, false);
  Control client(*p.a);
  SendFileList(client, list);
  client.writer.Write(FrameType::Done, {});
  Control server(*p.b);
  SkipFileList(server);
  EXPECT_EQ(server.reader.Expect(FrameType::Done).payload, "");
}

TEST(ControlHelloTest, PeerThatIsNotKtsyncIsRefused) {
  StreamPair p = SocketPair();
  p.a->WriteAll("SSH-2.0-OpenSSH_9.2\r\n", 21);
  Control c(*p.b);
  ExpectError(ExitCode::StreamData, "unknown frame type", [&] { ExchangeHello(c); });
}

TEST(ControlHelloTest, ErrorFrameInsteadOfHelloCarriesThePeersMessage) {
  StreamPair p = SocketPair();
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
  uint32_t stream_no = 0;  // from the DataHello
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
  if (sock)
    out.server = AcceptDataConnection(std::move(sock), server_sec, server_token, kTimeoutMs, &out.stream_no, &out.why);
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
  EXPECT_EQ(a.stream_no, 3u);  // routes it in a daemon session's queue
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
  uint32_t no = 0;
  EXPECT_FALSE(AcceptDataConnection(std::move(sock), plain, RandomToken(), 500, &no, &why));
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
  q.ExpectStreams(2);
  StreamPair p1 = SocketPair();
  StreamPair p2 = SocketPair();
  ByteStream* first = p1.a.get();
  ByteStream* second = p2.a.get();
  q.Push(0, std::move(p1.a));
  q.Push(1, std::move(p2.a));
  EXPECT_EQ(q.Pop(milliseconds(100)).get(), first);
  EXPECT_EQ(q.Pop(milliseconds(100)).get(), second);
}

// A daemon session's second control connection is kept apart from its data connections,
// and a session takes only one.
TEST(DataQueueTest, ReverseControlConnectionIsKeptApartAndTakenOnce) {
  DataQueue q;
  q.ExpectStreams(2);
  StreamPair data = SocketPair(), control = SocketPair(), second = SocketPair();
  ByteStream* d = data.a.get();
  ByteStream* c = control.a.get();
  q.Push(kReverseControlStream, std::move(control.a));
  q.Push(0, std::move(data.a));
  q.Push(kReverseControlStream, std::move(second.a));  // dropped: one is queued already
  EXPECT_EQ(q.PopReverseControl(milliseconds(100)).get(), c);
  EXPECT_EQ(q.Pop(milliseconds(100)).get(), d);
  ExpectError(ExitCode::Timeout, "second control connection", [&] { q.PopReverseControl(milliseconds(50)); });
}

TEST(DataQueueTest, PopWakesWhenAConnectionArrives) {
  DataQueue q;
  q.ExpectStreams(2);
  StreamPair p = SocketPair();
  std::thread pusher([&] {
    std::this_thread::sleep_for(milliseconds(50));
    q.Push(0, std::move(p.a));
  });
  EXPECT_TRUE(q.Pop(milliseconds(5000)));
  pusher.join();
}

TEST(DataQueueTest, AStreamBeyondTheSessionsCountIsAProtocolError) {
  DataQueue q;
  q.ExpectStreams(2);
  StreamPair ok = SocketPair(), beyond = SocketPair();
  q.Push(1, std::move(ok.a));
  q.Push(2, std::move(beyond.a));
  q.Close("session ended");  // the protocol error is what the session learns
  ExpectError(ExitCode::StreamData, "data connection for stream 2 of a session with 2", [&] { q.Pop(milliseconds(100)); });
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
  listener.queue().ExpectStreams(2);
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
  listener.queue().ExpectStreams(1);
  {
    UniqueFd scanner = ConnectTcp("127.0.0.1", listener.port(), kTimeoutMs);
    ASSERT_EQ(send(scanner.get(), "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL), 18);
  }
  auto good = OpenDataConnection("127.0.0.1", listener.port(), sec, token, 0, kTimeoutMs);
  EXPECT_TRUE(listener.queue().Pop(milliseconds(kTimeoutMs)));
}

}  // namespace
}  // namespace ktsync
