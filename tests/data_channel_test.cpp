// links: ktsync_transfer
#include "transfer/data_channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apply/source_read.h"
#include "apply/temp_name.h"
#include "manifest/scan.h"
#include "transfer/net.h"
#include "transfer/wire.h"
#include "util/error.h"
#include "util/hash.h"
#include "util/unique_fd.h"

#include "appender.h"
#include "stream_pair.h"
#include "temp_dir.h"

namespace ktsync {
namespace {

namespace fs = std::filesystem;

constexpr int kIoTimeoutSeconds = 30;  // a hang becomes a Timeout error, not a stuck test

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& data, mode_t mode = 0644, int64_t mtime_ns = 0) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  ASSERT_EQ(chmod(p.c_str(), mode), 0);
  if (mtime_ns) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, {mtime_ns / 1'000'000'000, mtime_ns % 1'000'000'000}};
    ASSERT_EQ(utimensat(AT_FDCWD, p.c_str(), ts, 0), 0);
  }
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 7;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// Everything under `root` as "type mode size mtime content-hash" per path, symlinks unfollowed.
std::map<std::string, std::string> Snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
    struct stat st;
    if (lstat(it->path().c_str(), &st) != 0) continue;
    std::ostringstream desc;
    desc << (st.st_mode & S_IFMT) << ' ' << (st.st_mode & 07777) << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec
         << '.' << st.st_mtim.tv_nsec;
    if (S_ISREG(st.st_mode)) desc << ' ' << HashBytes(ReadFile(it->path()).data(), static_cast<size_t>(st.st_size)).Hex();
    out[fs::relative(it->path(), root).string()] = desc.str();
  }
  return out;
}

std::vector<std::string> TempFiles(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& de : fs::recursive_directory_iterator(root))
    if (IsTempName(de.path().filename().string())) out.push_back(de.path().string());
  return out;
}

StreamPair DataPair(const std::string& tag) { return SocketPair("sender " + tag, "receiver " + tag, kIoTimeoutSeconds); }

// What a FileReceiver reported of one file.
struct Received {
  int64_t index;
  bool ok;
  Hash128 hash;
  FinalInfo info;
};

DataReceiveOptions Recording(std::mutex& mu, std::vector<Received>& out) {
  DataReceiveOptions ro;
  ro.on_file = [&mu, &out](const ReceivedFile& r) {
    std::lock_guard lock(mu);
    out.push_back({r.index, r.ok, r.hash, r.info});
  };
  return ro;
}

// Connections for rotation: the sender's opener makes a socketpair and leaves the other end
// here for the receiver's opener of the same stream number.
class Rendezvous {
 public:
  std::unique_ptr<ByteStream> OpenForSender(int no) {
    StreamPair p = DataPair("rotated " + std::to_string(no));
    std::lock_guard lock(mu_);
    waiting_[no].push_back(std::move(p.b));
    ++sender_opens;
    cv_.notify_all();
    return std::move(p.a);
  }
  std::unique_ptr<ByteStream> OpenForReceiver(int no) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(kIoTimeoutSeconds), [&] { return !waiting_[no].empty(); }))
      throw Error(ExitCode::Timeout, "test: no rotated connection for stream " + std::to_string(no));
    auto s = std::move(waiting_[no].front());
    waiting_[no].pop_front();
    ++receiver_opens;
    return s;
  }
  int sender_opens = 0;
  int receiver_opens = 0;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::deque<std::unique_ptr<ByteStream>>> waiting_;
};

std::unique_ptr<ByteStream> NoReopen(int) { throw Error(ExitCode::StreamData, "test: unexpected reopen"); }

class DataChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = base_ / "src";
    dst_ = base_ / "dst";
    fs::create_directories(src_);
    fs::create_directories(dst_);
    fs::create_directories(base_ / "outside");
    WriteFile(base_ / "outside" / "keep", "outside the destination", 0644, 1'500'000'000'000'000'000);
  }

  Manifest Scan() {
    UniqueFd root(open(src_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    Problems p;
    ScanResult r = ScanTree(root.get(), ScanOptions{}, p, src_.string());
    EXPECT_TRUE(p.Snapshot().empty());
    return r.entries;
  }

  // Directories of `m` made in dst, as the plan's MkDir phase would before any data.
  void MakeDirs(const Manifest& m) {
    for (const Entry& e : m)
      if (e.IsDir() && !e.path.empty()) fs::create_directories(dst_ / e.path);
  }

  // Everything outside dst, to prove a run touched nothing there.
  std::map<std::string, std::string> OutsideDst() {
    auto all = Snapshot(base_.path());
    std::map<std::string, std::string> out;
    for (auto& [k, v] : all)
      if (k != "dst" && !k.starts_with("dst/")) out[k] = v;
    return out;
  }

  struct Run {
    DataSendResult sent;
    DataReceiveResult received;
    std::vector<std::pair<std::string, Hash128>> sent_files;  // path, hash: as reported by on_sent
    std::mutex mu;
    std::vector<Received> files;       // as reported by on_file, committed or not
    std::vector<Received> received_files;  // the committed ones
    std::exception_ptr send_error, receive_error;
    Problems send_problems, receive_problems;
    uint64_t bytes_written = 0;
  };

  // Sends every regular file of `m` (wire index = manifest index) over `streams` pairs.
  std::unique_ptr<Run> Transfer(const Manifest& m, int streams, uint64_t rotate_after = kDefaultRotateBytes,
                                Rendezvous* rv = nullptr) {
    auto run = std::make_unique<Run>();
    SendQueue queue(m.size() + 1, DescribeSendItem());
    ExpectedFiles expected;
    std::vector<SendItem> items;
    for (size_t i = 0; i < m.size(); ++i) {
      if (!m[i].IsFile()) continue;
      items.push_back({static_cast<int64_t>(i), m[i]});
      expected.Add(static_cast<int64_t>(i), {m[i], i});
    }
    queue.PushAll(items);
    expected.Close();
    queue.Close();
    std::vector<std::unique_ptr<ByteStream>> send_streams, recv_streams;
    for (int i = 0; i < streams; ++i) {
      StreamPair p = DataPair(std::to_string(i));
      send_streams.push_back(std::move(p.a));
      recv_streams.push_back(std::move(p.b));
    }
    UniqueFd src_root(open(src_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    DataSendOptions so;
    so.src_root_fd = src_root.get();
    so.rotate_after_bytes = rotate_after;
    so.skip_changing = skip_changing_;
    so.on_sent = [&run](const SentFile& s) { run->sent_files.emplace_back(s.entry->path, s.hash); };
    StreamOpener send_reopen = rv ? StreamOpener([rv](int no) { return rv->OpenForSender(no); }) : StreamOpener(NoReopen);
    StreamOpener recv_reopen = rv ? StreamOpener([rv](int no) { return rv->OpenForReceiver(no); }) : StreamOpener(NoReopen);
    std::thread sender([&] {
      try {
        run->sent = SendFiles(std::move(send_streams), send_reopen, queue, so, run->send_problems);
      } catch (...) {
        run->send_error = std::current_exception();
      }
    });
    try {
      DestTree tree = DestTree::Open(dst_.string());
      FileReceiver receiver(std::move(recv_streams), recv_reopen, tree, expected, Recording(run->mu, run->files),
                            run->receive_problems);
      run->received = receiver.Join();
    } catch (...) {
      run->receive_error = std::current_exception();
    }
    sender.join();
    EXPECT_EQ(expected.size(), 0u) << "every file sent was ended, one way or the other";
    for (const Received& r : run->files) {
      if (!r.ok) continue;
      run->received_files.push_back(r);
      run->bytes_written += m[static_cast<size_t>(r.index)].size;
    }
    return run;
  }

  // Writes an assortment of files (sizes around the batch and frame boundaries, odd modes,
  // nanosecond mtimes) and returns path -> content.
  std::map<std::string, std::string> MakeSourceFiles() {
    std::map<std::string, std::string> files;
    const size_t sizes[] = {0, 1, 100, 65536, 65537, 512 * 1024, 1'000'003, 3 * 1024 * 1024 + 11};
    const mode_t modes[] = {0644, 0600, 0755, 0444, 0640};
    fs::create_directories(src_ / "sub" / "deeper");
    int n = 0;
    for (size_t size : sizes) {
      for (const char* dir : {"", "sub/", "sub/deeper/"}) {
        std::string rel = std::string(dir) + "f" + std::to_string(n);
        std::string data = Pattern(size, static_cast<uint32_t>(n));
        WriteFile(src_ / rel, data, modes[n % 5], 1'600'000'000'000'000'000 + n * 1'000'003);
        files[rel] = data;
        ++n;
      }
    }
    return files;
  }

  void ExpectLanded(const Manifest& m, const std::map<std::string, std::string>& files) {
    for (const auto& [rel, data] : files) {
      SCOPED_TRACE(rel);
      EXPECT_EQ(ReadFile(dst_ / rel), data);
      struct stat st;
      ASSERT_EQ(lstat((dst_ / rel).c_str(), &st), 0);
      const Entry* e = nullptr;
      for (const Entry& x : m)
        if (x.path == rel) e = &x;
      ASSERT_NE(e, nullptr);
      EXPECT_EQ(st.st_mode & 07777, e->mode);
      EXPECT_EQ(Timestamp::Of(st.st_mtim), e->mtime);
    }
    EXPECT_TRUE(TempFiles(dst_).empty());
  }

  // SRC "stable" and "changing", DST an old "changing"; SRC's "changing" is rewritten with
  // `now` and a new mtime after the returned scan.
  Manifest ScanThenChange(const std::string& now) {
    WriteFile(src_ / "stable", "stable content", 0644, 1'600'000'000'000'000'000);
    WriteFile(src_ / "changing", "version one", 0644, 1'600'000'000'000'000'000);
    Manifest m = Scan();
    WriteFile(dst_ / "changing", "old dst content", 0600, 1'500'000'000'000'000'000);
    WriteFile(src_ / "changing", now, 0644, 1'600'000'000'000'000'001);
    return m;
  }

  TempDir base_{"ktsync-datachan"};
  fs::path src_, dst_;
  bool skip_changing_ = false;  // DataSendOptions::skip_changing for Transfer
};

void Rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

std::string ErrorText(const std::exception_ptr& e) {
  try {
    Rethrow(e);
  } catch (const std::exception& x) {
    return x.what();
  }
  return "";
}

TEST_F(DataChannelTest, OneStreamDeliversEveryFileWithContentModeAndMtime) {
  auto files = MakeSourceFiles();
  Manifest m = Scan();
  MakeDirs(m);
  auto outside = OutsideDst();
  auto run = Transfer(m, 1);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  EXPECT_TRUE(run->send_problems.Snapshot().empty());
  EXPECT_TRUE(run->receive_problems.Snapshot().empty());
  ExpectLanded(m, files);
  EXPECT_EQ(run->sent.files, files.size());
  EXPECT_EQ(run->received_files.size(), files.size());
  uint64_t bytes = 0;
  for (auto& [rel, data] : files) bytes += data.size();
  EXPECT_EQ(run->sent.bytes, bytes);
  EXPECT_EQ(run->bytes_written, bytes);
  EXPECT_EQ(run->sent.wire_bytes, run->received.wire_bytes);
  for (const auto& [path, hash] : run->sent_files) EXPECT_EQ(hash, HashBytes(files[path].data(), files[path].size()));
  for (const Received& r : run->received_files) {
    const std::string& data = files[m[static_cast<size_t>(r.index)].path];
    EXPECT_EQ(r.hash, HashBytes(data.data(), data.size()));
    EXPECT_EQ(r.info.size, data.size());
  }
  EXPECT_EQ(OutsideDst(), outside);
}

// Only data regions travel: a 256 MiB file with 8 KiB of data arrives as a few KiB on the
// wire and stays sparse in DST.
TEST_F(DataChannelTest, SparseFileTravelsAsItsDataAndStaysSparse) {
  const off_t size = 256 << 20;
  std::string a(8192, 'a');
  {
    UniqueFd fd(open((src_ / "sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(pwrite(fd.get(), a.data(), a.size(), 100 << 20), 8192);
    ASSERT_EQ(ftruncate(fd.get(), size), 0);
  }
  std::string data(static_cast<size_t>(size), '\0');
  std::copy(a.begin(), a.end(), data.begin() + (100 << 20));
  Manifest m = Scan();
  auto run = Transfer(m, 1);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  EXPECT_TRUE(run->receive_problems.Snapshot().empty());
  ASSERT_EQ(run->received_files.size(), 1u);
  EXPECT_EQ(run->received_files[0].hash, HashBytes(data.data(), data.size()));
  EXPECT_LT(run->received.wire_bytes, 64u * 1024);
  struct stat st{};
  ASSERT_EQ(stat((dst_ / "sparse").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, size);
  EXPECT_LE(st.st_blocks * 512, 1 << 20);
}

TEST_F(DataChannelTest, ThreeStreamsDeliverEveryFileOnce) {
  auto files = MakeSourceFiles();
  for (int i = 0; i < 60; ++i) {  // many small files so every stream gets some
    std::string rel = "small" + std::to_string(i);
    files[rel] = Pattern(static_cast<size_t>(i * 37), 1000 + i);
    WriteFile(src_ / rel, files[rel], 0644, 1'650'000'000'000'000'000 + i);
  }
  Manifest m = Scan();
  MakeDirs(m);
  auto outside = OutsideDst();
  auto run = Transfer(m, 3);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  EXPECT_TRUE(run->send_problems.Snapshot().empty());
  EXPECT_TRUE(run->receive_problems.Snapshot().empty());
  ExpectLanded(m, files);
  std::set<int64_t> got;
  for (const Received& r : run->received_files) EXPECT_TRUE(got.insert(r.index).second) << "twice";
  EXPECT_EQ(got.size(), files.size());
  EXPECT_EQ(run->sent.wire_bytes, run->received.wire_bytes);
  EXPECT_EQ(OutsideDst(), outside);
}

TEST_F(DataChannelTest, RotationMovesBothSidesToFreshConnections) {
  auto files = MakeSourceFiles();
  Manifest m = Scan();
  MakeDirs(m);
  for (int streams : {1, 3}) {
    SCOPED_TRACE(streams);
    fs::remove_all(dst_);
    fs::create_directories(dst_);
    MakeDirs(m);
    Rendezvous rv;
    auto run = Transfer(m, streams, /*rotate_after=*/1, &rv);
    ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
    ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
    EXPECT_TRUE(run->send_problems.Snapshot().empty());
    EXPECT_TRUE(run->receive_problems.Snapshot().empty());
    ExpectLanded(m, files);
    // Every file after a stream's first one starts on a new connection, unless no data
    // went out since the last rotation (after an empty file).
    int empty = 0;
    for (auto& [rel, data] : files) empty += data.empty();
    EXPECT_GE(rv.sender_opens, static_cast<int>(files.size()) - streams - empty);
    EXPECT_EQ(rv.receiver_opens, rv.sender_opens);
    EXPECT_EQ(run->sent.wire_bytes, run->received.wire_bytes) << "rotated connections' bytes are counted";
  }
}

TEST_F(DataChannelTest, SourceChangedAfterTheScanIsSentAsItIsNow) {
  Manifest m = ScanThenChange("version two, longer");
  auto run = Transfer(m, 1);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  EXPECT_TRUE(run->send_problems.Snapshot().empty());
  EXPECT_TRUE(run->receive_problems.Snapshot().empty());
  EXPECT_EQ(ReadFile(dst_ / "changing"), "version two, longer");
  EXPECT_EQ(Snapshot(dst_), Snapshot(src_));  // the mtime it was read at, too
  EXPECT_EQ(run->sent.files, 2u);
  EXPECT_EQ(run->sent_files.size(), 2u);
  EXPECT_TRUE(TempFiles(dst_).empty());
}

TEST_F(DataChannelTest, SourceChangedAfterTheScanIsNotSentWhenSkippingChangingFiles) {
  Manifest m = ScanThenChange("version two");  // same size, new mtime
  auto dst_before = Snapshot(dst_);
  auto outside = OutsideDst();
  skip_changing_ = true;
  auto run = Transfer(m, 1);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  auto problems = run->send_problems.Snapshot();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].kind, ProblemKind::Vanished);
  EXPECT_EQ(problems[0].path, "changing");
  EXPECT_EQ(run->send_problems.ExitCodeFor(), ExitCode::Vanished);
  EXPECT_TRUE(run->receive_problems.Snapshot().empty());
  EXPECT_EQ(ReadFile(dst_ / "changing"), "old dst content");
  EXPECT_EQ(Snapshot(dst_)["changing"], dst_before["changing"]);
  EXPECT_EQ(ReadFile(dst_ / "stable"), "stable content");
  EXPECT_EQ(run->sent.files, 1u);
  EXPECT_TRUE(TempFiles(dst_).empty());
  EXPECT_EQ(OutsideDst(), outside);
}

// A file appended to without pause: every attempt sees it grow, the last full read is kept.
TEST_F(DataChannelTest, FileAppendedWhileSentIsRetriedThenKeptAsRead) {
  std::string start(32 << 20, 'x');
  WriteFile(src_ / "log", start, 0644, 1'600'000'000'000'000'000);
  Manifest m = Scan();
  std::unique_ptr<Run> run;
  {
    Appender appending(src_ / "log");
    run = Transfer(m, 1);
  }
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  auto problems = run->send_problems.Snapshot();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].message.find("kept the last full read"), std::string::npos) << problems[0].message;
  EXPECT_TRUE(run->sent_files.empty()) << "an inconsistent read must not enter the hash cache";
  std::string got = ReadFile(dst_ / "log");
  EXPECT_GE(got.size(), start.size());
  EXPECT_EQ(ReadFile(src_ / "log").substr(0, got.size()), got);
  EXPECT_GT(run->received.wire_bytes, 3 * start.size()) << "four attempts travel";
  EXPECT_TRUE(TempFiles(dst_).empty());
}

TEST_F(DataChannelTest, SourceDeletedAfterTheScanIsReportedVanished) {
  WriteFile(src_ / "gone", "soon gone", 0644, 1'600'000'000'000'000'000);
  Manifest m = Scan();
  fs::remove(src_ / "gone");
  auto run = Transfer(m, 1);
  ASSERT_FALSE(run->send_error) << ErrorText(run->send_error);
  ASSERT_FALSE(run->receive_error) << ErrorText(run->receive_error);
  auto problems = run->send_problems.Snapshot();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].kind, ProblemKind::Vanished);
  EXPECT_FALSE(fs::exists(dst_ / "gone"));
  EXPECT_TRUE(TempFiles(dst_).empty());
  ASSERT_EQ(run->files.size(), 1u) << "the receiver hears that it is not coming";
  EXPECT_FALSE(run->files[0].ok);
}

// ---- A hostile sender: hand-written frames against ReceiveFiles ---------------------------

class HostileSenderTest : public DataChannelTest {
 protected:
  void SetUp() override {
    DataChannelTest::SetUp();
    auto file = [](std::string path, uint64_t size) {
      Entry e;
      e.path = std::move(path);
      e.type = EntryType::File;
      e.mode = 0644;
      e.size = size;
      e.mtime = {1'600'000'000, 0};
      return e;
    };
    Entry root, sub, missing;
    root.type = sub.type = missing.type = EntryType::Dir;
    root.mode = sub.mode = missing.mode = 0755;
    sub.path = "sub";
    missing.path = "missing";
    //        0     1             2              3    4                 5        6
    src_m_ = {root, file("a", 5), file("b", 3), sub, file("sub/c", 4), missing, file("missing/d", 2)};
    expected_ = {1, 2, 4, 6};
    fs::create_directories(dst_ / "sub");  // "missing" is not made: creating missing/d fails
    WriteFile(dst_ / "a", "OLD-A-CONTENT", 0600, 1'400'000'000'000'000'000);
    WriteFile(dst_ / "sub" / "c", "OLD-C", 0640, 1'400'000'000'000'000'000);
    dst_before_ = Snapshot(dst_);
    outside_before_ = OutsideDst();
    StreamPair p = DataPair("hostile");
    hostile_ = std::move(p.a);
    receiver_end_ = std::move(p.b);
  }

  void Frame(FrameType t, std::string_view payload) { FrameWriter(*hostile_).Write(t, payload); }
  void Begin(int64_t index, uint64_t size, std::optional<Timestamp> restated = std::nullopt) {
    std::string out;
    EncodeFileBegin(FileBegin{index, size, restated}, out);
    Frame(FrameType::FileBegin, out);
  }
  void Data(std::string_view bytes) { Frame(FrameType::FileData, bytes); }
  void End(const Hash128& hash, uint8_t flags = 0) {
    std::string out;
    EncodeFileEnd(FileEnd{hash, flags}, out);
    Frame(FrameType::FileEnd, out);
  }
  void End(std::string_view content) { End(HashBytes(content.data(), content.size())); }
  void Done() { Frame(FrameType::Done, {}); }
  void Close() { hostile_.reset(); }

  // Runs the receiver over what the hostile side wrote (and then closed).
  std::exception_ptr Receive() {
    Close();
    std::vector<std::unique_ptr<ByteStream>> streams;
    streams.push_back(std::move(receiver_end_));
    for (int64_t i : expected_) expected_files_.Add(i, {src_m_[static_cast<size_t>(i)], static_cast<uint64_t>(i)});
    if (close_expected_) expected_files_.Close();
    std::mutex mu;
    std::vector<Received> reported;
    try {
      DestTree tree = DestTree::Open(dst_.string());
      FileReceiver receiver(std::move(streams), NoReopen, tree, expected_files_, Recording(mu, reported), problems_);
      result_ = receiver.Join();
    } catch (...) {
      error_ = std::current_exception();
    }
    for (const Received& r : reported)
      if (r.ok) received_.push_back(r);
    return error_;
  }

  void ExpectNoTempAndNothingOutsideChanged() {
    EXPECT_TRUE(TempFiles(dst_).empty());
    EXPECT_EQ(OutsideDst(), outside_before_);
  }

  void ExpectDstUnchanged() {
    EXPECT_EQ(Snapshot(dst_), dst_before_);
    ExpectNoTempAndNothingOutsideChanged();
  }

  Manifest src_m_;
  std::vector<int64_t> expected_;
  ExpectedFiles expected_files_;
  bool close_expected_ = true;  // the destination has asked for everything it will
  std::map<std::string, std::string> dst_before_, outside_before_;
  std::unique_ptr<ByteStream> hostile_, receiver_end_;
  DataReceiveResult result_;
  std::exception_ptr error_;
  std::vector<Received> received_;  // committed
  Problems problems_;
};

TEST_F(HostileSenderTest, WellBehavedScriptIsAccepted) {
  Begin(1, 5);
  Data("NEW-A");
  End("NEW-A");
  Begin(4, 4);
  Data("cc");
  Data("CC");
  End("ccCC");
  Done();
  ASSERT_FALSE(Receive()) << "a correct stream must be accepted";
  EXPECT_EQ(ReadFile(dst_ / "a"), "NEW-A");
  EXPECT_EQ(ReadFile(dst_ / "sub" / "c"), "ccCC");
  EXPECT_EQ(received_.size(), 2u);
  EXPECT_TRUE(problems_.Snapshot().empty());
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, FileNotAskedForIsAProtocolError) {
  Begin(3, 0);  // the directory "sub": listed, not asked for
  ExpectError(Receive(), ExitCode::StreamData, "not asked for");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, RootIndexIsAProtocolError) {
  Begin(0, 0);
  ExpectError(Receive(), ExitCode::StreamData, "not asked for");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, IndexBeyondTheListIsAProtocolError) {
  Begin(static_cast<int64_t>(src_m_.size()), 1);
  ExpectError(Receive(), ExitCode::StreamData, "not asked for");
  ExpectDstUnchanged();
}

// The receiver tells its caller about every file it was asked for: what the sender never
// mentioned is left in ExpectedFiles (the caller reports it and keeps deletions off).
TEST_F(HostileSenderTest, FilesNeverSentAreLeftForTheCaller) {
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  Done();
  ASSERT_FALSE(Receive()) << ErrorText(error_);
  std::vector<int64_t> left;
  for (auto& [index, f] : expected_files_.TakeAll()) left.push_back(index);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<int64_t>{1, 4, 6}));
}

// Done says "all you asked for is sent": before the destination's last request it is a lie.
TEST_F(HostileSenderTest, DoneWhileFilesMayStillBeAskedForIsAProtocolError) {
  close_expected_ = false;
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  Done();
  ExpectError(Receive(), ExitCode::StreamData, "ended while files were still due");
}

TEST_F(HostileSenderTest, SameFileTwiceIsAProtocolError) {
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  Begin(2, 3);
  ExpectError(Receive(), ExitCode::StreamData, "twice");
  EXPECT_EQ(ReadFile(dst_ / "b"), "bbb") << "the first, correct copy was committed";
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, HolesCountAsBytesAndMayNotOverrunOrStandAlone) {
  std::string hole;
  EncodeFileHole(2, hole);
  Begin(2, 3);  // "b" is 3 bytes: a hole of 2, then 1 byte of data, lands as "\0\0b"
  Frame(FrameType::FileHole, hole);
  Data("b");
  End(std::string_view("\0\0b", 3));
  EncodeFileHole(6, hole = "");
  Begin(1, 5);
  Frame(FrameType::FileHole, hole);
  ExpectError(Receive(), ExitCode::StreamData, "longer than announced");
  EXPECT_EQ(ReadFile(dst_ / "b"), std::string("\0\0b", 3));
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, HoleOutsideAFileIsAProtocolError) {
  std::string hole;
  EncodeFileHole(1, hole);
  Frame(FrameType::FileHole, hole);
  ExpectError(Receive(), ExitCode::StreamData, "hole outside a file");
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, AnnouncedSizeDifferentFromTheManifestIsAProtocolError) {
  Begin(1, 6);
  ExpectError(Receive(), ExitCode::StreamData, "announced size differs");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DataLongerThanAnnouncedIsAProtocolError) {
  Begin(1, 5);
  Data("NEW");
  Data("-A!");
  ExpectError(Receive(), ExitCode::StreamData, "longer than announced");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DataShorterThanAnnouncedIsAProtocolError) {
  Begin(1, 5);
  Data("NEW");
  End("NEW");
  ExpectError(Receive(), ExitCode::StreamData, "shorter than announced");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, WrongHashIsAPerFileProblemAndKeepsTheOldContent) {
  Begin(1, 5);
  Data("NEW-A");
  End("EVIL!");
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  Done();
  std::exception_ptr e = Receive();
  ASSERT_FALSE(e) << ErrorText(e);
  auto problems = problems_.Snapshot();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].kind, ProblemKind::Failed);
  EXPECT_EQ(problems[0].path, "a");
  EXPECT_EQ(ReadFile(dst_ / "a"), "OLD-A-CONTENT");
  auto now = Snapshot(dst_);
  EXPECT_EQ(now["a"], dst_before_["a"]);
  EXPECT_EQ(ReadFile(dst_ / "b"), "bbb") << "the run goes on after a bad file";
  ASSERT_EQ(received_.size(), 1u);
  EXPECT_EQ(received_[0].index, 2);
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, DiscardFlagDropsTheFileAndKeepsTheOldContent) {
  Begin(1, 5);
  Data("NE");
  End(Hash128{}, kFileEndDiscard);
  Done();
  std::exception_ptr e = Receive();
  ASSERT_FALSE(e) << ErrorText(e);
  EXPECT_TRUE(problems_.Snapshot().empty()) << "the sender reports the vanished file, not the receiver";
  EXPECT_TRUE(received_.empty());
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, RetriedAndRestatedFileIsCommittedAsLastSent) {
  Begin(1, 5);
  Data("NE");
  End(Hash128{}, kFileEndRetry);
  Begin(1, 7, Timestamp{1'700'000'000, 9});
  Data("NEWER-A");
  End("NEWER-A");
  Done();
  std::exception_ptr e = Receive();
  ASSERT_FALSE(e) << ErrorText(e);
  EXPECT_EQ(ReadFile(dst_ / "a"), "NEWER-A");
  struct stat st;
  ASSERT_EQ(stat((dst_ / "a").c_str(), &st), 0);
  EXPECT_EQ(Timestamp::Of(st.st_mtim), (Timestamp{1'700'000'000, 9}));
  ASSERT_EQ(received_.size(), 1u);
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, RetriesBeyondTheBoundAreAProtocolError) {
  for (int i = 0; i < kMaxReadAttempts; ++i) {
    Begin(1, 5);
    Data("NEW-A");
    End(Hash128{}, kFileEndRetry);
  }
  ExpectError(Receive(), ExitCode::StreamData, "sent more than 4 times");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, AnythingButTheSameFileAfterARetryIsAProtocolError) {
  Begin(1, 5);
  End(Hash128{}, kFileEndRetry);
  Begin(2, 3);
  ExpectError(Receive(), ExitCode::StreamData, "a was retried, but file #2 came");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DataRightAfterARetryIsAProtocolError) {
  Begin(1, 5);
  End(Hash128{}, kFileEndRetry);
  Data("NEW-A");
  ExpectError(Receive(), ExitCode::StreamData, "file data outside a file");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DoneWhileARetryIsDueIsAProtocolError) {
  Begin(1, 5);
  End(Hash128{}, kFileEndRetry);
  Done();
  ExpectError(Receive(), ExitCode::StreamData, "in the middle of a");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, UnknownFileEndFlagsAreAProtocolError) {
  Begin(1, 5);
  Data("NEW-A");
  End(HashBytes("NEW-A", 5), 0x80);
  ExpectError(Receive(), ExitCode::StreamData, "unknown flags");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, StreamClosedMidFileIsASocketErrorAndLeavesNoTemp) {
  Begin(1, 5);
  Data("NE");
  ExpectError(Receive(), ExitCode::SocketIo, "closed");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, StreamClosedInsideAFrameIsASocketErrorAndLeavesNoTemp) {
  Begin(1, 5);
  unsigned char hdr[kFrameHeaderBytes];
  EncodeFrameHeader(FrameType::FileData, 5, hdr);
  hostile_->WriteAll(hdr, sizeof hdr);
  hostile_->WriteAll("NE", 2);
  ExpectError(Receive(), ExitCode::SocketIo, "closed");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, StreamClosedWithoutDoneIsASocketError) {
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  ExpectError(Receive(), ExitCode::SocketIo, "closed");
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, DataBeforeFileBeginIsAProtocolError) {
  Data("NEW-A");
  ExpectError(Receive(), ExitCode::StreamData, "file data outside a file");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, FileEndBeforeFileBeginIsAProtocolError) {
  End("x");
  ExpectError(Receive(), ExitCode::StreamData, "FileEnd outside a file");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, FileBeginInsideAFileIsAProtocolError) {
  Begin(1, 5);
  Data("NE");
  Begin(2, 3);
  ExpectError(Receive(), ExitCode::StreamData, "FileBegin inside another file");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, UnknownFrameTypeIsAProtocolError) {
  Begin(1, 5);
  Data("NE");
  unsigned char bogus[kFrameHeaderBytes] = {99, 0, 0, 0, 0};
  hostile_->WriteAll(bogus, sizeof bogus);
  ExpectError(Receive(), ExitCode::StreamData, "unknown frame type 99");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, CompressedDataInARunWithoutCompressionIsAProtocolError) {
  Begin(1, 5);
  Frame(FrameType::FileDataZ, std::string("\x05\0\0\0", 4) + "not even zstd");
  ExpectError(Receive(), ExitCode::StreamData, "compressed file data in a run without -z");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, ControlFrameOnADataConnectionIsAProtocolError) {
  Frame(FrameType::Credit, {});
  ExpectError(Receive(), ExitCode::StreamData, "unexpected Credit on a data connection");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DoneInTheMiddleOfAFileIsAProtocolError) {
  Begin(1, 5);
  Data("NE");
  Done();
  ExpectError(Receive(), ExitCode::StreamData, "in the middle of");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, DoneWithAPayloadOtherThanRotateIsAProtocolError) {
  Frame(FrameType::Done, "bye");
  ExpectError(Receive(), ExitCode::StreamData, "trailing");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, RotateInTheMiddleOfAFileIsAProtocolError) {
  Begin(1, 5);
  Data("NE");
  Frame(FrameType::Done, "rotate");
  ExpectError(Receive(), ExitCode::StreamData, "in the middle of");
  ExpectDstUnchanged();
}

TEST_F(HostileSenderTest, UncreatableFileIsAProblemAndItsDataIsDrained) {
  Begin(6, 2);  // missing/d: its directory does not exist in dst
  Data("dd");
  End("dd");
  Begin(2, 3);
  Data("bbb");
  End("bbb");
  Done();
  std::exception_ptr e = Receive();
  ASSERT_FALSE(e) << ErrorText(e);
  auto problems = problems_.Snapshot();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].path, "missing/d");
  EXPECT_EQ(ReadFile(dst_ / "b"), "bbb");
  ExpectNoTempAndNothingOutsideChanged();
}

// A file whose temp could not be created is still "inside a file" on the wire: ending the
// stream there must be refused exactly as when the temp exists.
TEST_F(HostileSenderTest, DoneInTheMiddleOfAnUncreatableFileIsAProtocolError) {
  Begin(6, 2);
  Data("d");
  Done();
  ExpectError(Receive(), ExitCode::StreamData, "in the middle of");
  ExpectNoTempAndNothingOutsideChanged();
}

TEST_F(HostileSenderTest, RotateInTheMiddleOfAnUncreatableFileIsAProtocolError) {
  Begin(6, 2);
  Frame(FrameType::Done, "rotate");
  ExpectError(Receive(), ExitCode::StreamData, "in the middle of");
  ExpectNoTempAndNothingOutsideChanged();
}

}  // namespace
}  // namespace ktsync
