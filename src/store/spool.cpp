#include "store/spool.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

constexpr size_t kLenBytes = 4;
constexpr uint64_t kReadChunk = 1 << 20;

uint32_t LengthBefore(const char* end) {
  uint32_t len;
  std::memcpy(&len, end - kLenBytes, kLenBytes);
  return len;
}

// Records laid out as [payload][u32 length], parsed from the back of [begin, end).
void ReverseRecords(const char* begin, const char* end, const std::function<void(std::string_view)>& fn) {
  while (end > begin) {
    uint32_t len = LengthBefore(end);
    const char* start = end - kLenBytes - len;
    fn(std::string_view(start, len));
    end = start;
  }
}

void PreadAll(int fd, char* buf, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SysError("read the run's spool file", n < 0 ? errno : EIO);
    buf += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
}

}  // namespace

Spool::Spool(std::string dir) : dir_(std::move(dir)) {}

void Spool::Append(std::string_view record) {
  if (record.size() > kMaxRecordBytes) throw Error(ExitCode::FileIo, "spool record too large");
  uint32_t len = static_cast<uint32_t>(record.size());
  mem_.append(record);
  mem_.append(reinterpret_cast<const char*>(&len), kLenBytes);
  ++count_;
  if (mem_.size() >= kMemoryBytes) Spill();
}

UniqueFd Spool::OpenTemp() const {
  std::string dir = dir_;
  if (dir.empty()) {
    const char* t = ::getenv("TMPDIR");
    dir = t && *t ? t : "/tmp";
  }
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  // Filesystems without O_TMPFILE: a named temp, unlinked at once.
  std::string path = dir + "/.ktsync-spool.XXXXXX";
  fd.reset(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) throw SysError("create a spool file in " + dir, errno);
  ::unlink(path.c_str());
  return fd;
}

void Spool::Spill() {
  if (!file_) file_ = OpenTemp();
  const char* p = mem_.data();
  size_t left = mem_.size();
  while (left > 0) {
    ssize_t n = ::pwrite(file_.get(), p, left, static_cast<off_t>(file_bytes_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw SysError("write the run's spool file", n < 0 ? errno : EIO);
    p += n;
    left -= static_cast<size_t>(n);
    file_bytes_ += static_cast<uint64_t>(n);
  }
  mem_.clear();
}

void Spool::ForEachReversed(const std::function<void(std::string_view)>& fn) {
  ReverseRecords(mem_.data(), mem_.data() + mem_.size(), fn);
  // The file from its end, a chunk at a time; a chunk ends on a record boundary and is
  // widened when one record is longer than a chunk.
  std::vector<char> buf;
  uint64_t end = file_bytes_;
  while (end > 0) {
    uint64_t start = end > kReadChunk ? end - kReadChunk : 0;
    buf.resize(static_cast<size_t>(end - start));
    PreadAll(file_.get(), buf.data(), buf.size(), start);
    // Walk back over whole records inside [start, end).
    const char* base = buf.data();
    uint64_t cut = end;
    while (cut > start) {
      if (cut - start < kLenBytes) break;
      uint32_t len = LengthBefore(base + (cut - start));
      if (cut - start < kLenBytes + len) break;
      cut -= kLenBytes + len;
    }
    if (cut == end) {  // one record longer than the chunk: read exactly it
      uint32_t len;
      PreadAll(file_.get(), reinterpret_cast<char*>(&len), kLenBytes, end - kLenBytes);
      start = end - kLenBytes - len;
      buf.resize(static_cast<size_t>(end - start));
      PreadAll(file_.get(), buf.data(), buf.size(), start);
      cut = start;
      base = buf.data();
    }
    ReverseRecords(base + (cut - start), base + (end - start), fn);
    end = cut;
  }
}

void Spool::Clear() {
  mem_.clear();
  file_.reset();
  file_bytes_ = 0;
  count_ = 0;
}

}  // namespace ktsync
