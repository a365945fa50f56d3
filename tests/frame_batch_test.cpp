// links: ktsync_transfer
#include "transfer/frame_batch.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

// Records every write so tests can see how the batch cut the byte stream.
class RecordingStream : public ByteStream {
 public:
  RecordingStream() : ByteStream("memory") {}
  void WriteAll(const void* data, size_t len) override {
    ++write_all_calls;
    writes.push_back(len);
    bytes.append(static_cast<const char*>(data), len);
  }
  void WriteV(const struct iovec* iov, int iovcnt) override {
    ++write_v_calls;
    size_t total = 0;
    for (int i = 0; i < iovcnt; ++i) {
      bytes.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
      total += iov[i].iov_len;
    }
    writes.push_back(total);
  }
  size_t ReadSome(void*, size_t) override { return 0; }
  void ShutdownWrite() override {}
  void ShutdownRead() override {}

  int write_all_calls = 0;
  int write_v_calls = 0;
  std::vector<size_t> writes;
  std::string bytes;
};

// Hands recorded bytes back in uneven pieces, as a socket might.
class ReplayStream : public ByteStream {
 public:
  explicit ReplayStream(std::string data) : ByteStream("replay"), data_(std::move(data)) {}
  void WriteAll(const void*, size_t) override {}
  void WriteV(const struct iovec*, int) override {}
  void ShutdownWrite() override {}
  void ShutdownRead() override {}
  size_t ReadSome(void* buf, size_t len) override {
    size_t n = std::min({len, data_.size() - pos_, size_t{1} + (step_++ * 7919) % 65536});
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
  size_t step_ = 0;
};

struct OwnedFrame {
  FrameType type;
  std::string payload;
  bool operator==(const OwnedFrame&) const = default;
};

std::vector<OwnedFrame> DecodeAll(ByteStream& s) {
  std::vector<OwnedFrame> out;
  FrameReader r(s);
  while (std::optional<Frame> f = r.Next()) out.push_back({f->type, std::string(f->payload)});
  return out;
}

std::vector<OwnedFrame> DecodeAll(const std::string& bytes) {
  ReplayStream s(bytes);
  return DecodeAll(s);
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Writes `data` as FileData frames through ReserveData/CommitData, filling `fill` bytes per
// reservation at most (a short read from the file).
void AddData(FrameBatch& b, const std::string& data, size_t fill) {
  size_t off = 0;
  while (off < data.size()) {
    size_t room = 0;
    char* p = b.ReserveData(data.size() - off, &room);
    ASSERT_GE(room, 1u);
    size_t n = std::min({room, fill, data.size() - off});
    std::memcpy(p, data.data() + off, n);
    b.CommitData(n);
    off += n;
  }
}

TEST(FrameBatchTest, ManySmallFramesGoOutInOneWrite) {
  RecordingStream out;
  FrameBatch b(&out);
  std::vector<OwnedFrame> sent;
  for (int i = 0; i < 1000; ++i) {
    OwnedFrame f{i % 3 == 0 ? FrameType::Done : FrameType::FileBegin, Pattern(static_cast<size_t>(i % 17), i)};
    b.Add(f.type, f.payload);
    sent.push_back(f);
  }
  EXPECT_EQ(out.writes.size(), 0u) << "nothing is written before the batch fills or is flushed";
  b.Flush();
  EXPECT_EQ(out.write_all_calls, 1);
  EXPECT_EQ(out.write_v_calls, 0);
  EXPECT_EQ(DecodeAll(out.bytes), sent);
  EXPECT_EQ(b.bytes_written(), out.bytes.size());
}

TEST(FrameBatchTest, FlushOfAnEmptyBatchWritesNothing) {
  RecordingStream out;
  FrameBatch b(&out);
  b.Flush();
  b.Flush();
  EXPECT_TRUE(out.writes.empty());
  EXPECT_EQ(b.bytes_written(), 0u);
}

TEST(FrameBatchTest, ManyFramesAreCutIntoFewFullWrites) {
  RecordingStream out;
  FrameBatch b(&out);
  std::vector<OwnedFrame> sent;
  size_t total = 0;
  for (int i = 0; i < 3000; ++i) {
    OwnedFrame f{FrameType::FileEnd, Pattern(1000 + static_cast<size_t>(i % 50), i)};
    b.Add(f.type, f.payload);
    total += kFrameHeaderBytes + f.payload.size();
    sent.push_back(f);
  }
  b.Flush();
  EXPECT_EQ(out.write_v_calls, 0);
  // Each write but the last holds all it can: less than one frame short of the capacity.
  for (size_t i = 0; i < out.writes.size(); ++i) {
    EXPECT_LE(out.writes[i], FrameBatch::kCapacity);
    if (i + 1 < out.writes.size()) {
      EXPECT_GT(out.writes[i], FrameBatch::kCapacity - 1055);
    }
  }
  EXPECT_LE(out.writes.size(), (total + FrameBatch::kCapacity - 1) / FrameBatch::kCapacity + 1);
  EXPECT_EQ(DecodeAll(out.bytes), sent);
  EXPECT_EQ(b.bytes_written(), total);
}

TEST(FrameBatchTest, ReservedDataBecomesFileDataFramesWithTheCommittedBytes) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string begin = "begin";
  std::string data = Pattern(3 * FrameBatch::kCapacity + 12345, 1);
  b.Add(FrameType::FileBegin, begin);
  AddData(b, data, SIZE_MAX);
  b.Add(FrameType::FileEnd, "end");
  b.Flush();
  EXPECT_EQ(out.write_v_calls, 0) << "file data is written from the batch buffer, never around it";
  std::vector<OwnedFrame> got = DecodeAll(out.bytes);
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got.front(), (OwnedFrame{FrameType::FileBegin, begin}));
  EXPECT_EQ(got.back(), (OwnedFrame{FrameType::FileEnd, "end"}));
  std::string joined;
  for (size_t i = 1; i + 1 < got.size(); ++i) {
    EXPECT_EQ(got[i].type, FrameType::FileData);
    EXPECT_GE(got[i].payload.size(), 1u);
    joined += got[i].payload;
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(b.bytes_written(), out.bytes.size());
}

TEST(FrameBatchTest, ShortFillsMakeSmallDataFramesThatStillDecode) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string data = Pattern(100'000, 2);
  AddData(b, data, 777);
  b.Flush();
  std::vector<OwnedFrame> got = DecodeAll(out.bytes);
  std::string joined;
  for (const OwnedFrame& f : got) {
    EXPECT_EQ(f.type, FrameType::FileData);
    EXPECT_LE(f.payload.size(), 777u);
    joined += f.payload;
  }
  EXPECT_EQ(joined, data);
  EXPECT_EQ(out.writes.size(), 1u) << "100 kB of small data frames fit one batch";
}

TEST(FrameBatchTest, SmallReservationOffersExactlyWhatWasAskedFor) {
  RecordingStream out;
  FrameBatch b(&out);
  size_t room = 0;
  char* p = b.ReserveData(100, &room);
  EXPECT_EQ(room, 100u);
  std::memset(p, 'x', 100);
  b.CommitData(100);
  b.Flush();
  EXPECT_EQ(DecodeAll(out.bytes), (std::vector<OwnedFrame>{{FrameType::FileData, std::string(100, 'x')}}));
}

TEST(FrameBatchTest, ReservationInANearlyFullBatchFlushesFirstToKeepDataFramesLarge) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string filler(FrameBatch::kCapacity - 1000, 'f');
  b.Add(FrameType::FileEnd, filler);
  size_t room = 0;
  b.ReserveData(10 << 20, &room);
  EXPECT_EQ(out.write_all_calls, 1) << "the full batch went out before the reservation";
  EXPECT_EQ(room, FrameBatch::kCapacity - kFrameHeaderBytes);
  b.CommitData(0);
  // A small file still fits behind the filler without a flush.
  RecordingStream out2;
  FrameBatch b2(&out2);
  b2.Add(FrameType::FileEnd, filler);
  b2.ReserveData(500, &room);
  EXPECT_EQ(room, 500u);
  EXPECT_EQ(out2.write_all_calls, 0);
}

TEST(FrameBatchTest, PayloadLargerThanTheBatchGoesOutDirectlyAndInOrder) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string big = Pattern(FrameBatch::kCapacity + 1, 3);
  b.Add(FrameType::FileBegin, "first");
  b.Add(FrameType::ManifestBatch, big);
  b.Add(FrameType::FileEnd, "after");
  b.Flush();
  EXPECT_EQ(out.write_v_calls, 1) << "header and payload in one WriteV, not copied into the batch";
  EXPECT_EQ(out.write_all_calls, 2) << "what was batched before goes out first";
  ASSERT_EQ(out.writes.size(), 3u);
  EXPECT_EQ(out.writes[1], kFrameHeaderBytes + big.size());
  EXPECT_EQ(DecodeAll(out.bytes), (std::vector<OwnedFrame>{{FrameType::FileBegin, "first"},
                                                           {FrameType::ManifestBatch, big},
                                                           {FrameType::FileEnd, "after"}}));
  EXPECT_EQ(b.bytes_written(), out.bytes.size());
}

TEST(FrameBatchTest, PayloadThatExactlyFillsTheBatchIsBatched) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string exact(FrameBatch::kCapacity - kFrameHeaderBytes, 'e');
  b.Add(FrameType::FileEnd, exact);
  b.Flush();
  EXPECT_EQ(out.write_v_calls, 0);
  EXPECT_EQ(out.write_all_calls, 1);
  EXPECT_EQ(DecodeAll(out.bytes), (std::vector<OwnedFrame>{{FrameType::FileEnd, exact}}));
}

TEST(FrameBatchTest, PayloadAboveTheFrameCapIsRefused) {
  RecordingStream out;
  FrameBatch b(&out);
  std::string huge(kMaxFramePayload + 1, 'h');
  EXPECT_THROW(b.Add(FrameType::ManifestBatch, huge), Error);
}

TEST(FrameBatchTest, CommitZeroCancelsTheReservation) {
  RecordingStream out;
  FrameBatch b(&out);
  b.Add(FrameType::FileBegin, "A");
  size_t room = 0;
  char* p = b.ReserveData(4096, &room);
  std::memset(p, 'j', room);
  b.CommitData(0);
  b.Add(FrameType::FileEnd, "B");
  // A cancelled reservation in an empty batch leaves nothing to write.
  b.Flush();
  size_t before = out.bytes.size();
  b.ReserveData(10, &room);
  b.CommitData(0);
  b.Flush();
  EXPECT_EQ(out.bytes.size(), before);
  EXPECT_EQ(DecodeAll(out.bytes), (std::vector<OwnedFrame>{{FrameType::FileBegin, "A"}, {FrameType::FileEnd, "B"}}));
  EXPECT_EQ(b.bytes_written(), out.bytes.size());
}

TEST(FrameBatchTest, RebindSendsLaterFramesToTheNewStream) {
  RecordingStream first, second;
  FrameBatch b(&first);
  b.Add(FrameType::Done, "rotate");
  b.Flush();
  b.Rebind(&second);
  b.Add(FrameType::FileBegin, "x");
  b.Flush();
  EXPECT_EQ(DecodeAll(first.bytes), (std::vector<OwnedFrame>{{FrameType::Done, "rotate"}}));
  EXPECT_EQ(DecodeAll(second.bytes), (std::vector<OwnedFrame>{{FrameType::FileBegin, "x"}}));
}

TEST(FrameBatchTest, FramesCrossASocketpairIntact) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  FdStream writer_end(UniqueFd(sv[0]), "writer");
  FdStream reader_end(UniqueFd(sv[1]), "reader");
  std::vector<OwnedFrame> sent;
  for (int i = 0; i < 200; ++i) sent.push_back({FrameType::FileBegin, Pattern(static_cast<size_t>(i), i)});
  std::string data = Pattern(2 * FrameBatch::kCapacity + 3, 9);
  std::string big = Pattern(FrameBatch::kCapacity * 2, 10);
  std::thread writer([&] {
    FrameBatch b(&writer_end);
    for (const OwnedFrame& f : sent) b.Add(f.type, f.payload);
    AddData(b, data, SIZE_MAX);
    b.Add(FrameType::ManifestBatch, big);
    b.Add(FrameType::Done, {});
    b.Flush();
    writer_end.ShutdownWrite();
  });
  std::vector<OwnedFrame> got = DecodeAll(reader_end);
  writer.join();
  ASSERT_GE(got.size(), sent.size() + 3);
  for (size_t i = 0; i < sent.size(); ++i) EXPECT_EQ(got[i], sent[i]) << i;
  std::string joined;
  size_t i = sent.size();
  for (; got[i].type == FrameType::FileData; ++i) joined += got[i].payload;
  EXPECT_EQ(joined, data);
  EXPECT_EQ(got[i], (OwnedFrame{FrameType::ManifestBatch, big}));
  EXPECT_EQ(got[i + 1], (OwnedFrame{FrameType::Done, ""}));
  EXPECT_EQ(i + 2, got.size());
}

}  // namespace
}  // namespace ktsync
