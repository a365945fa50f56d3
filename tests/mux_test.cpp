// links: ktsync_transfer
#include "transfer/mux.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "transfer/byte_io.h"
#include "transfer/wire.h"

#include "stream_pair.h"

namespace ktsync {
namespace {

using std::chrono::milliseconds;

// Two ends of one carrier, as over the ssh pipes.
struct MuxPair {
  StreamPair carrier = SocketPair("client", "server", 10);
  Mux client{*carrier.a, Mux::Side::Client};
  Mux server{*carrier.b, Mux::Side::Server};
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + i / 7);
  return s;
}

std::string ReadToEnd(ByteStream& s) {
  std::string out;
  char buf[70000];
  for (size_t n; (n = s.ReadSome(buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

TEST(MuxTest, ControlAndDataChannelsCarryTheirOwnBytesBothWays) {
  MuxPair m;
  auto cc = m.client.Control();
  auto sc = m.server.Control();
  auto d1 = m.client.Open();
  auto d2 = m.client.Open();
  auto s1 = m.server.Accept(milliseconds(5000));
  auto s2 = m.server.Accept(milliseconds(5000));
  cc->WriteAll("hello", 5);
  d2->WriteAll("two", 3);
  d1->WriteAll("one", 3);
  s2->WriteAll("back", 4);
  char buf[8];
  sc->ReadExact(buf, 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  s1->ReadExact(buf, 3);
  EXPECT_EQ(std::string(buf, 3), "one");  // opened first, accepted first
  s2->ReadExact(buf, 3);
  EXPECT_EQ(std::string(buf, 3), "two");
  d2->ReadExact(buf, 4);
  EXPECT_EQ(std::string(buf, 4), "back");
}

TEST(MuxTest, MoreThanTheWindowArrivesWholeAndInOrder) {
  MuxPair m;
  auto d = m.client.Open();
  auto s = m.server.Accept(milliseconds(5000));
  const std::string data = Pattern(3 * Mux::kWindow + 12345);
  std::thread writer([&] {
    struct iovec v[2] = {{const_cast<char*>(data.data()), 1000}, {const_cast<char*>(data.data()) + 1000, data.size() - 1000}};
    d->WriteV(v, 2);
    d->ShutdownWrite();
  });
  EXPECT_EQ(ReadToEnd(*s), data);
  writer.join();
}

TEST(MuxTest, AStalledChannelDoesNotStallTheOthers) {
  MuxPair m;
  auto cc = m.client.Control();
  auto sc = m.server.Control();
  auto d = m.client.Open();
  auto s = m.server.Accept(milliseconds(5000));
  // Fills the data channel's window; nobody reads it yet, so the writer waits for credit.
  const std::string big = Pattern(Mux::kWindow + 4096);
  std::thread writer([&] { d->WriteAll(big.data(), big.size()); });
  for (int i = 0; i < 50; ++i) {
    cc->WriteAll("ping", 4);
    char buf[4];
    sc->ReadExact(buf, 4);
    sc->WriteAll("pong", 4);
    cc->ReadExact(buf, 4);
    ASSERT_EQ(std::string(buf, 4), "pong");
  }
  std::string got(big.size(), '\0');
  s->ReadExact(got.data(), got.size());
  writer.join();
  EXPECT_EQ(got, big);
}

TEST(MuxTest, ADroppedChannelFailsThePeersWritesAndLeavesOthersAlone) {
  MuxPair m;
  auto cc = m.client.Control();
  auto sc = m.server.Control();
  auto d = m.client.Open();
  m.server.Accept(milliseconds(5000)).reset();  // the server drops it at once
  const std::string big = Pattern(2 * Mux::kWindow);
  ExpectError(ExitCode::SocketIo, "closed a channel", [&] { d->WriteAll(big.data(), big.size()); });
  cc->WriteAll("ok", 2);
  char buf[2];
  sc->ReadExact(buf, 2);
  EXPECT_EQ(std::string(buf, 2), "ok");
}

TEST(MuxTest, ShutdownReadWakesABlockedReader) {
  MuxPair m;
  auto sc = m.server.Control();
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(50));
    sc->ShutdownRead();
  });
  char buf[1];
  ExpectError(ExitCode::SocketIo, "shut down", [&] { sc->ReadSome(buf, 1); });
  stopper.join();
}

TEST(MuxTest, AcceptTimesOutWhenNoChannelComes) {
  MuxPair m;
  ExpectError(ExitCode::Timeout, "no data channel", [&] { m.server.Accept(milliseconds(20)); });
}

TEST(MuxTest, TheCarriersEndFailsEveryChannel) {
  StreamPair carrier = SocketPair("client", "server", 10);
  Mux server(*carrier.b, Mux::Side::Server);
  auto sc = server.Control();
  carrier.a->ShutdownWrite();
  char buf[1];
  ExpectError(ExitCode::SocketIo, "ssh connection closed", [&] { sc->ReadSome(buf, 1); });
}

// ---- A hostile peer: raw chunks written on the carrier -----------------------------------

std::string Chunk(uint32_t channel, uint8_t kind, uint32_t value, size_t payload = 0) {
  std::string out;
  ByteWriter w(out);
  w.U32(channel);
  w.U8(kind);
  w.U32(value);
  out.append(payload, 'x');
  return out;
}

// The server fails every channel after the peer wrote `raw` (Accept reports that failure
// once the channels opened before it are taken; they stay open, as a server keeps them).
void ExpectServerRejects(const std::string& raw, const std::string& needle) {
  StreamPair carrier = SocketPair("client", "server", 10);
  Mux server(*carrier.b, Mux::Side::Server);
  carrier.a->WriteAll(raw.data(), raw.size());
  std::vector<std::unique_ptr<ByteStream>> open;
  ExpectError(ExitCode::StreamData, needle, [&] {
    for (;;) open.push_back(server.Accept(milliseconds(5000)));
  });
}

TEST(MuxTest, HostileChunksAreProtocolErrors) {
  ExpectServerRejects(Chunk(0, 9, 0), "unknown ssh channel chunk kind 9");
  ExpectServerRejects(Chunk(7, 2, 1, 1), "never opened");
  ExpectServerRejects(Chunk(0, 2, Mux::kMaxChunk + 1), "data chunk of");
  ExpectServerRejects(Chunk(0, 2, 0), "data chunk of 0 bytes");
  ExpectServerRejects(Chunk(0, 3, 1), "credit beyond the window");
  ExpectServerRejects(Chunk(2, 1, 0) + Chunk(1, 1, 0), "opened out of order");
  // The whole window, then one byte more (small: the writer must not wait on a reader that stopped).
  std::string beyond;
  for (uint32_t sent = 0; sent < Mux::kWindow; sent += Mux::kMaxChunk) beyond += Chunk(0, 2, Mux::kMaxChunk, Mux::kMaxChunk);
  ExpectServerRejects(beyond + Chunk(0, 2, 1, 1), "beyond the credit");
  ExpectServerRejects(Chunk(0, 4, 0) + Chunk(0, 2, 1, 1), "after the end");
  // Open, Eof and Close carry no value.
  ExpectServerRejects(Chunk(1, 1, 5), "of kind 1 with value 5");
  ExpectServerRejects(Chunk(0, 4, 1), "of kind 4 with value 1");
  ExpectServerRejects(Chunk(0, 5, 0x80000000u), "of kind 5 with value 2147483648");
  std::string many;
  for (uint32_t id = 1; id <= Mux::kMaxChannels; ++id) many += Chunk(id, 1, 0);
  ExpectServerRejects(many, "channels open at once");
}

TEST(MuxTest, AClientRefusesAChannelOpenedByTheServer) {
  StreamPair carrier = SocketPair("client", "server", 10);
  Mux client(*carrier.a, Mux::Side::Client);
  auto cc = client.Control();
  std::string raw = Chunk(1, 1, 0);
  carrier.b->WriteAll(raw.data(), raw.size());
  char buf[1];
  ExpectError(ExitCode::StreamData, "the server opened a channel", [&] { cc->ReadSome(buf, 1); });
}

}  // namespace
}  // namespace ktsync
