// links: ktsync_transfer
// The two ends of a session's control channel (transfer/source_channel.h, dest_channel.h):
// against each other over a socketpair, and each against a scripted hostile peer.
#include "transfer/source_channel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>

#include "transfer/byte_io.h"
#include "transfer/dest_channel.h"

#include "stream_pair.h"

namespace ktsync {
namespace {

using std::chrono::milliseconds;

Entry Make(std::string path, EntryType type, uint32_t mode = 0644) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  e.uid = 1000;
  e.gid = 1001;
  e.mtime = {1'600'000'000, 123'456'789};
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
  leader.nlink = 2;
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
    EXPECT_EQ(got[i].mtime, want[i].mtime);
    EXPECT_EQ(got[i].link_target(), want[i].link_target());
    EXPECT_EQ(got[i].rdev(), want[i].rdev());
    EXPECT_EQ(got[i].hash, want[i].hash);
    EXPECT_EQ(got[i].link_leader, want[i].link_leader);
    EXPECT_EQ(got[i].nlink, want[i].nlink);
  }
}

Manifest Flat(size_t files) {
  Manifest m = {Make("", EntryType::Dir, 0755)};
  char name[32];  // room for any size_t, or -Wformat-truncation fails the build
  for (size_t i = 0; i < files; ++i) {
    std::snprintf(name, sizeof name, "f%07zu", i);
    m.push_back(Make(name, EntryType::File));
    m.back().size = i;
  }
  return m;
}

// The source's end streams `m`; the destination's reads it all, releasing as it goes
// (credit), and ends the requests. Returns what the destination read.
Manifest StreamThrough(const Manifest& m) {
  StreamPair p = SocketPair("source", "destination");
  Manifest got;
  std::exception_ptr source_error;
  {
    DestChannel source(*p.a, *p.a, nullptr, /*dest_reports_end=*/false);
    std::thread sender([&] {
      try {
        source.SendBatch(EntryBatch{0, m});
        source.EndManifest();
        while (source.NextRequest()) {
        }
        source.SendResult({{"entries", m.size()}});
        source.AwaitDone();
      } catch (...) {
        source_error = std::current_exception();
      }
    });
    SourceChannel dest(*p.b, *p.b);
    for (EntryBatch b; dest.NextBatch(b);) {
      EXPECT_EQ(b.first, static_cast<int64_t>(got.size()));
      for (Entry& e : b.entries) got.push_back(std::move(e));
      dest.Release(static_cast<int64_t>(got.size()));
    }
    EXPECT_EQ(dest.AwaitEnd().stats.at("entries"), m.size());
    dest.SendDone();
    sender.join();
  }
  if (source_error) std::rethrow_exception(source_error);
  return got;
}

TEST(ChannelTest, OddNamesAndHardLinksRoundTrip) {
  Manifest m = OddManifest();
  ExpectSameOnTheWire(StreamThrough(m), m);
}

TEST(ChannelTest, RootOnlyListRoundTrips) {
  Manifest m = {Make("", EntryType::Dir, 0755)};
  ExpectSameOnTheWire(StreamThrough(m), m);
}

// Far more entries than one credit window: the source waits for credit, the destination
// grants it as it reads, and nothing is lost or reordered across batches.
TEST(ChannelTest, ListsLongerThanTheCreditFlowAsCreditIsGranted) {
  Manifest m = Flat(3 * static_cast<size_t>(kInitialCredit) + 123);
  Manifest got = StreamThrough(m);
  ASSERT_EQ(got.size(), m.size());
  EXPECT_EQ(got.back().path, m.back().path);
  EXPECT_EQ(got.back().size, m.back().size);
}

// `files` files each carrying a 64 KiB attribute (64 of them weigh 4 MiB, half a byte window).
Manifest Heavy(size_t files) {
  Manifest m = Flat(files);
  for (size_t k = 1; k < m.size(); ++k) m[k].set_xattrs({{"user.big", std::string(kMaxXattrBytes - 8, 'v')}});
  return m;
}

// Entries of 64 KiB, many times the byte window: the source waits for byte credit, the
// destination grants it as it releases them.
TEST(ChannelTest, HeavyListsFlowAsByteCreditIsGranted) {
  Manifest m = Heavy(5 * static_cast<size_t>(kInitialByteCredit / kMaxXattrBytes));
  Manifest got = StreamThrough(m);
  ASSERT_EQ(got.size(), m.size());
  EXPECT_EQ(got.back().xattrs(), m.back().xattrs());
}

// ---- the destination's end against a scripted source --------------------------------------

struct WrittenFrame {
  FrameType type = FrameType::Hello;  // Hello: none (the stream ended)
  std::string payload;
};

class HostileSource : public ::testing::Test {
 protected:
  HostileSource() : p_(SocketPair("source", "destination")), writer_(*p_.a), dest_(*p_.b, *p_.b) {}

  void Batch(const Manifest& entries) {
    std::string out;
    for (std::span<const Entry> rest(entries); !rest.empty();) {
      out.clear();
      rest = rest.subspan(EncodeEntryBatch(rest, out));
      writer_.Write(FrameType::ManifestBatch, out);
    }
  }
  void End(int64_t count) {
    std::string out;
    ByteWriter(out).I64(count);
    writer_.Write(FrameType::ManifestEnd, out);
  }
  void Frame(FrameType t, std::string_view payload = {}) { writer_.Write(t, payload); }
  void Close() { p_.a->ShutdownWrite(); }
  Manifest ReadAll() {
    Manifest got;
    for (EntryBatch b; dest_.NextBatch(b);)
      for (Entry& e : b.entries) got.push_back(std::move(e));
    return got;
  }
  // The next frame the destination wrote.
  WrittenFrame Next() {
    std::optional<ktsync::Frame> f = reader_.Next();
    if (!f) return {};
    return {f->type, std::string(f->payload)};
  }

  StreamPair p_;
  FrameWriter writer_;
  FrameReader reader_{*p_.a};
  SourceChannel dest_;
};

Manifest Three() { return {Make("", EntryType::Dir, 0755), Make("a", EntryType::File), Make("b", EntryType::File)}; }

TEST_F(HostileSource, ListWithTheRightCountIsAccepted) {
  Manifest m = Three();
  Batch({m[0], m[1]});
  Batch({m[2]});
  End(3);
  ExpectSameOnTheWire(ReadAll(), m);
}

TEST_F(HostileSource, CountMismatchInManifestEndIsRefused) {
  Batch(Three());
  End(2);
  ExpectError(ExitCode::StreamData, "entry count does not match", [&] { ReadAll(); });
}

TEST_F(HostileSource, ManifestEndWithExtraBytesIsRefused) {
  Batch(Three());
  std::string out;
  ByteWriter(out).I64(3);
  out += 'x';
  Frame(FrameType::ManifestEnd, out);
  ExpectError(ExitCode::StreamData, "trailing", [&] { ReadAll(); });
}

TEST_F(HostileSource, ListWithoutItsRootIsRefused) {
  End(0);
  ExpectError(ExitCode::StreamData, "without its root", [&] { ReadAll(); });
}

TEST_F(HostileSource, EntriesOutOfOrderAcrossBatchesAreRefused) {
  Manifest m = Three();
  Batch({m[0], m[2]});
  Batch({m[1]});
  ExpectError(ExitCode::StreamData, "out of order", [&] { ReadAll(); });
}

TEST_F(HostileSource, EntriesAfterTheEndAreRefused) {
  Manifest m = Three();
  Batch(m);
  End(3);
  Batch({Make("c", EntryType::File)});
  ReadAll();
  ExpectError(ExitCode::StreamData, "after the end", [&] { dest_.AwaitEnd(); });
}

// A source that ignores the credit would make the destination buffer without bound.
TEST_F(HostileSource, EntriesBeyondTheGrantedCreditAreRefused) {
  std::thread t([&] { Batch(Flat(static_cast<size_t>(kInitialCredit))); });  // root + kInitialCredit
  ExpectError(ExitCode::StreamData, "beyond the", [&] { ReadAll(); });
  Close();
  t.join();
}

// Within the entry credit, but beyond the 8 MiB of entry bytes: refused as it arrives.
TEST_F(HostileSource, EntriesBeyondTheGrantedBytesAreRefused) {
  std::thread t([&] { Batch(Heavy(static_cast<size_t>(kInitialByteCredit / kMaxXattrBytes))); });
  ExpectError(ExitCode::StreamData, "bytes it was allowed", [&] { ReadAll(); });
  Close();
  t.join();
}

TEST_F(HostileSource, PeersErrorFrameEndsTheRunWithItsCode) {
  Batch(Three());
  std::string out;
  EncodeError(ErrorMessage{ExitCode::SelectFiles, "cannot read SRC"}, out);
  Frame(FrameType::Error, out);
  ExpectError(ExitCode::SelectFiles, "cannot read SRC", [&] { ReadAll(); });
}

TEST_F(HostileSource, FramesOnlyADestinationSendsAreRefused) {
  Batch(Three());
  std::string out;
  EncodeIndexList(std::vector<int64_t>{1}, out);
  Frame(FrameType::SendList, out);
  ExpectError(ExitCode::StreamData, "unexpected SendList", [&] { ReadAll(); });
}

TEST_F(HostileSource, ConnectionClosedBeforeTheEndIsASocketError) {
  Batch(Three());
  Close();
  ExpectError(ExitCode::SocketIo, "closed", [&] { ReadAll(); });
}

TEST_F(HostileSource, HashRepliesMustAnswerTheRequestsInOrder) {
  Batch(Three());
  dest_.RequestHashes({1, 2});
  std::string out;
  EncodeHashReply(std::vector<HashReplyItem>{{2, Hash128{1, 1}}}, out);
  Frame(FrameType::HashReply, out);
  ExpectError(ExitCode::StreamData, "hash reply out of order", [&] { dest_.AwaitHashes(); });
}

TEST_F(HostileSource, AnUnaskedHashReplyIsRefused) {
  Batch(Three());
  std::string out;
  EncodeHashReply(std::vector<HashReplyItem>{{1, std::nullopt}}, out);
  Frame(FrameType::HashReply, out);
  End(3);
  ExpectError(ExitCode::StreamData, "hash reply out of order", [&] { ReadAll(); });
}

// Problems beyond the cap are counted, not kept: a source cannot grow our memory with them.
TEST_F(HostileSource, ReportsAreBoundedAndCounted) {
  Batch(Three());
  End(3);
  std::string out;
  EncodeReport({SessionReport::Failed, "a", "bad"}, out);
  std::thread t([&] {
    for (size_t i = 0; i < PeerEnd::kMaxReports + 5; ++i) Frame(FrameType::Report, out);
    Frame(FrameType::Result, std::string(4, '\0'));
  });
  ReadAll();
  PeerEnd end = dest_.AwaitEnd();
  t.join();
  EXPECT_EQ(end.reports.size(), PeerEnd::kMaxReports);
  EXPECT_EQ(end.reports_dropped, 5u);
}

// A Credit that releases an entry must never overtake the request for it: batched file
// requests go out first.
TEST_F(HostileSource, FileRequestsGoOutBeforeACreditThatReleasesThem) {
  const int64_t quarter = SourceChannel::kWindow / 4;  // a release worth a Credit
  Manifest m = Flat(static_cast<size_t>(quarter));
  Batch(m);
  EntryBatch taken;
  ASSERT_TRUE(dest_.NextBatch(taken));  // entries are released only once taken
  ASSERT_EQ(taken.entries.size(), m.size());
  dest_.RequestFile(1);
  dest_.Release(quarter);
  WrittenFrame first = Next();
  EXPECT_EQ(first.type, FrameType::SendList);
  std::vector<int64_t> asked;
  DecodeIndexList(first.payload, asked);
  EXPECT_EQ(asked, (std::vector<int64_t>{1}));
  WrittenFrame second = Next();
  ASSERT_EQ(second.type, FrameType::Credit);
  int64_t bytes = 0;  // where the released entries end in the stream
  for (int64_t k = 0; k < quarter; ++k) bytes += static_cast<int64_t>(EncodedEntryBytes(m[static_cast<size_t>(k)]));
  EXPECT_EQ(DecodeCredit(second.payload),
            (Credit{quarter, quarter + SourceChannel::kWindow, bytes + SourceChannel::kByteWindow}));
}

// ---- the source's end against a scripted destination ----------------------------------------

class HostileDestination : public ::testing::Test {
 protected:
  HostileDestination() : p_(SocketPair("destination", "source")), writer_(*p_.a) {}

  void List(const Manifest& m) { source_.SendBatch(EntryBatch{0, m}); }
  void Ask(FrameType t, std::vector<int64_t> indices) {
    std::string out;
    EncodeIndexList(indices, out);
    writer_.Write(t, out);
  }
  void Grant(int64_t release, int64_t send) { GrantBytes(release, send, 0); }
  void GrantBytes(int64_t release, int64_t send, int64_t bytes) {
    std::string out;
    EncodeCredit(Credit{release, send, bytes}, out);
    writer_.Write(FrameType::Credit, out);
  }
  // Entries the source wrote so far (reads until `n` arrived).
  size_t ReadEntries(size_t n) {
    while (read_ < n) {
      std::optional<ktsync::Frame> f = reader_.Next();
      if (!f) break;
      if (f->type != FrameType::ManifestBatch) continue;
      EntryBatch b;
      decoder_.Decode(f->payload, b);
      read_ += b.entries.size();
    }
    return read_;
  }

  StreamPair p_;
  FrameWriter writer_;
  FrameReader reader_{*p_.a};
  ManifestDecoder decoder_;
  size_t read_ = 0;
  std::vector<ItemView> items_;
  DestChannel source_{*p_.b, *p_.b, [this](const ItemView& v) { items_.push_back(v); }, /*dest_reports_end=*/true};
};

Manifest WithDir() { return {Make("", EntryType::Dir, 0755), Make("a", EntryType::File), Make("d", EntryType::Dir)}; }

TEST_F(HostileDestination, RequestsNameListedEntriesByOrdinal) {
  List(WithDir());
  Ask(FrameType::HashRequest, {1});
  Ask(FrameType::SendList, {1});
  std::optional<DestChannel::Request> h = source_.NextRequest();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, DestChannel::Request::Hashes);
  ASSERT_EQ(h->entries.size(), 1u);
  EXPECT_EQ(h->entries[0].first, 1);
  EXPECT_EQ(h->entries[0].second.path, "a");
  std::optional<DestChannel::Request> f = source_.NextRequest();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->kind, DestChannel::Request::Files);
  writer_.Write(FrameType::Done, {});
  EXPECT_FALSE(source_.NextRequest());  // Done: nothing more will be asked
}

TEST_F(HostileDestination, TheSameFileTwiceIsRefused) {
  List(WithDir());
  Ask(FrameType::SendList, {1, 1});
  ExpectError(ExitCode::StreamData, "requested twice", [&] { source_.NextRequest(); });
}

TEST_F(HostileDestination, AnEntryNeverListedIsRefused) {
  List(WithDir());
  Ask(FrameType::HashRequest, {3});
  ExpectError(ExitCode::StreamData, "not among", [&] { source_.NextRequest(); });
}

TEST_F(HostileDestination, ADirectoryIsNoFileToSend) {
  List(WithDir());
  Ask(FrameType::SendList, {2});
  ExpectError(ExitCode::StreamData, "not a regular file", [&] { source_.NextRequest(); });
}

TEST_F(HostileDestination, ReleasedEntriesCannotBeAskedForAgain) {
  List(WithDir());
  Grant(2, 10);
  Ask(FrameType::SendList, {1});
  ExpectError(ExitCode::StreamData, "not among", [&] { source_.NextRequest(); });
}

TEST_F(HostileDestination, ReleasingEntriesNotYetListedIsRefused) {
  List(WithDir());
  Grant(5, 10);
  ExpectError(ExitCode::StreamData, "out of turn", [&] { source_.NextRequest(); });
}

// However much credit a peer grants, the source holds at most kMaxWindow entries for it.
TEST_F(HostileDestination, HugeCreditDoesNotGrowTheWindowBeyondItsCap) {
  Grant(0, int64_t{1} << 40);
  Manifest m = Flat(static_cast<size_t>(DestChannel::kMaxWindow) + 999);
  std::thread lister([&] { List(m); });
  EXPECT_EQ(ReadEntries(static_cast<size_t>(DestChannel::kMaxWindow)), static_cast<size_t>(DestChannel::kMaxWindow));
  std::this_thread::sleep_for(milliseconds(100));
  Grant(DestChannel::kMaxWindow, int64_t{1} << 40);  // now the rest may follow
  EXPECT_EQ(ReadEntries(m.size()), m.size());
  lister.join();
}

// The source sends no entry beyond the byte credit: it waits for a Credit, and however many
// bytes a peer grants, it holds at most kMaxByteWindow of them. (Its frames end where the
// credit does: an entry beyond it would be read with them.)
TEST_F(HostileDestination, TheSourceStopsAtTheByteCreditAndItsCap) {
  Manifest m = Heavy(400);
  int64_t bytes = 0;
  size_t fit = 0;
  while (bytes + static_cast<int64_t>(EncodedEntryBytes(m[fit])) <= kInitialByteCredit)
    bytes += static_cast<int64_t>(EncodedEntryBytes(m[fit++]));
  std::thread lister([&] { List(m); });
  EXPECT_EQ(ReadEntries(fit), fit);
  std::this_thread::sleep_for(milliseconds(100));
  GrantBytes(0, 1000, int64_t{1} << 40);  // nothing released: up to the cap
  size_t capped = 0;
  for (bytes = 0; bytes + static_cast<int64_t>(EncodedEntryBytes(m[capped])) <= DestChannel::kMaxByteWindow;)
    bytes += static_cast<int64_t>(EncodedEntryBytes(m[capped++]));
  EXPECT_EQ(ReadEntries(capped), capped);
  GrantBytes(static_cast<int64_t>(capped), 1000, int64_t{1} << 40);  // all released: the rest follows
  EXPECT_EQ(ReadEntries(m.size()), m.size());
  lister.join();
}

TEST_F(HostileDestination, ItemsAreHandedOverAsTheyCome) {
  List(WithDir());
  ItemView v;
  v.kind = ActionKind::SendFile;
  v.changes = kChNew;
  v.path = "a";
  v.size = 5;
  std::string out;
  EncodeItem(v, out);
  writer_.Write(FrameType::Item, out);
  writer_.Write(FrameType::Done, {});
  EXPECT_FALSE(source_.NextRequest());
  writer_.Write(FrameType::Result, std::string(4, '\0'));
  source_.AwaitEnd();
  ASSERT_EQ(items_.size(), 1u);
  EXPECT_EQ(items_[0], v);
}

TEST_F(HostileDestination, AResultBeforeItsDoneIsRefused) {
  List(WithDir());
  writer_.Write(FrameType::Result, std::string(4, '\0'));
  ExpectError(ExitCode::StreamData, "unexpected Result", [&] { source_.NextRequest(); });
}

}  // namespace
}  // namespace ktsync
