// links: ktsync_transfer
// The control channel's two ends of the byte level: FrameSender (whole frames from any
// thread; small ones queued to go out together) and FdStream's read buffer (a burst of
// small frames costs one read).
#include "transfer/frame_sender.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "stream_pair.h"
#include "transfer/session_messages.h"

namespace ktsync {
namespace {

using std::chrono::milliseconds;

SessionReport Note(const std::string& text) { return {SessionReport::Note, "k", text}; }

std::string NoteText(const std::optional<Frame>& f) {
  EXPECT_TRUE(f && f->type == FrameType::Report);
  return f ? DecodeReport(f->payload).message : "";
}

TEST(FrameSenderTest, QueuedFramesGoOutBeforeTheNextSentOneInOrder) {
  StreamPair p = SocketPair();
  FrameSender out(*p.a);
  out.Queue(FrameType::Report, EncodeReport, Note("one"));
  out.Queue(FrameType::Report, EncodeReport, Note("two"));
  out.Send(FrameType::Report, EncodeReport, Note("three"));
  FrameReader in(*p.b);
  EXPECT_EQ(NoteText(in.Next()), "one");
  EXPECT_EQ(NoteText(in.Next()), "two");
  EXPECT_EQ(NoteText(in.Next()), "three");
}

TEST(FrameSenderTest, AQueuedFrameGoesOutByItselfAfterTheDelay) {
  StreamPair p = SocketPair("a", "b", /*timeout_sec=*/5);
  FrameSender out(*p.a);
  auto start = std::chrono::steady_clock::now();
  out.Queue(FrameType::Report, EncodeReport, Note("alone"));
  FrameReader in(*p.b);
  EXPECT_EQ(NoteText(in.Next()), "alone") << "nothing else is sent: the delay must send it";
  EXPECT_GE(std::chrono::steady_clock::now() - start, FrameSender::kQueueDelay / 2);
}

TEST(FrameSenderTest, AQuietSenderKeepsTheChannelAliveAndReadersNeverSeeIt) {
  StreamPair p = SocketPair("a", "b", /*timeout_sec=*/5);
  FrameSender out(*p.a);
  auto start = std::chrono::steady_clock::now();
  out.KeepAlive(milliseconds(100));
  unsigned char raw[kFrameHeaderBytes];
  p.b->ReadExact(raw, sizeof raw);
  EXPECT_EQ(DecodeFrameHeader(raw).type, FrameType::Keepalive);
  EXPECT_EQ(DecodeFrameHeader(raw).length, 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(90)) << "only after a quiet interval";
  std::this_thread::sleep_for(milliseconds(250));  // more keepalives queue up in the socket
  out.Send(FrameType::Report, EncodeReport, Note("real"));
  FrameReader in(*p.b);
  EXPECT_EQ(NoteText(in.Next()), "real");
}

TEST(FrameSenderTest, AFullQueueGoesOutAtOnce) {
  StreamPair p = SocketPair("a", "b", /*timeout_sec=*/5);
  FrameSender out(*p.a);
  std::string big(1000, 'x');
  size_t n = FrameSender::kQueuedBytes / big.size() + 1;
  std::thread writer([&] {
    for (size_t i = 0; i < n; ++i) out.Queue(FrameType::Report, EncodeReport, Note(big));
  });
  FrameReader in(*p.b);
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(NoteText(in.Next()), big);
  writer.join();
}

TEST(FrameSenderTest, ListsLongerThanAFrameAreSplit) {
  StreamPair p = SocketPair();
  FrameSender out(*p.a);
  std::vector<int64_t> many(kMaxBatchIndices + 10);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<int64_t>(i);
  std::thread writer([&] { out.SendAll(FrameType::SendList, EncodeIndexList, std::span<const int64_t>(many)); });
  FrameReader in(*p.b);
  std::vector<int64_t> got;
  while (got.size() < many.size()) {
    std::optional<Frame> f = in.Next();
    ASSERT_TRUE(f && f->type == FrameType::SendList);
    DecodeIndexList(f->payload, got);
  }
  writer.join();
  EXPECT_EQ(got, many);
}

// Two FdStreams joined by pipes, as the two ends of an ssh session see each other.
struct PipePair {
  static std::pair<UniqueFd, UniqueFd> Pipe() {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
  }
  std::pair<UniqueFd, UniqueFd> to = Pipe(), back = Pipe();
  FdStream writer{std::move(back.first), std::move(to.second), "writer"};
  FdStream reader{std::move(to.first), std::move(back.second), "reader"};
};

// Pipes, as over ssh: small frames written in one burst and frames far larger than the
// read buffer (which bypass it) are read back whole and in order, then a clean end.
TEST(FdStreamReadTest, BurstsOfSmallAndLargeFramesReadBackWhole) {
  PipePair p;
  FdStream& writer = p.writer;
  FdStream& reader = p.reader;
  std::vector<int64_t> big(kMaxBatchIndices);  // a 2 MiB payload
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<int64_t>(i);
  constexpr int kRounds = 20, kSmall = 50;
  std::thread w([&] {
    FrameSender out(writer);
    for (int r = 0; r < kRounds; ++r) {
      for (int i = 0; i < kSmall; ++i) out.Queue(FrameType::Report, EncodeReport, Note(std::to_string(r * kSmall + i)));
      out.SendAll(FrameType::SendList, EncodeIndexList, std::span<const int64_t>(big));
    }
    writer.ShutdownWrite();
  });
  FrameReader in(reader);
  int wrong = 0;
  for (int r = 0; r < kRounds; ++r) {
    for (int i = 0; i < kSmall; ++i) wrong += NoteText(in.Next()) != std::to_string(r * kSmall + i);
    std::optional<Frame> f = in.Next();
    std::vector<int64_t> got;
    if (f && f->type == FrameType::SendList) DecodeIndexList(f->payload, got);
    wrong += got != big;
  }
  EXPECT_EQ(wrong, 0) << "frames that did not come back as sent";
  EXPECT_FALSE(in.Next()) << "a clean end after the last frame";
  w.join();
}

TEST(FdStreamReadTest, ShutdownReadStopsABlockedPipeRead) {
  PipePair p;  // the writer end stays open: the read blocks until shut down
  FdStream& reader = p.reader;
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(20));
    reader.ShutdownRead();
  });
  char c;
  ExpectError(ExitCode::SocketIo, "reading was stopped", [&] { reader.ReadExact(&c, 1); });
  stopper.join();
}

}  // namespace
}  // namespace ktsync
