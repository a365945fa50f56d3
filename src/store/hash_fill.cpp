#include "store/hash_fill.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <vector>

#include "util/error.h"
#include "util/hash.h"
#include "util/open_beneath.h"
#include "util/read_ahead.h"
#include "util/work_queue.h"
#include "util/read_hint.h"

namespace ktsync {
namespace {

constexpr size_t kChunk = size_t{1} << 20;

CacheKey KeyOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<uint64_t>(st.st_size),
          Timestamp::Of(st.st_mtim).KeyNs(), Timestamp::Of(st.st_ctim).KeyNs()};
}

// The scan's view of the file; ctime is left out on purpose: a chmod/chown between scan and
// hash does not change content, and the key recorded below uses the ctime seen now.
bool SameFileAsScanned(const Entry& e, const CacheKey& now) {
  return now.dev == e.dev && now.ino == e.ino && now.size == e.size && now.mtime_ns == e.mtime.KeyNs();
}

struct Reader {
  Hasher hasher;
  std::vector<char> buf = std::vector<char>(kChunk);
  TransferMeter* meter = nullptr;
  uint64_t read = 0;  // of the file being hashed, as counted into `meter`
};

// Reads the whole file into the hasher; returns bytes read, or -1 with errno set.
int64_t HashFd(int fd, Reader& r) {
  r.hasher.Reset();
  int64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, r.buf.data(), r.buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) return total;
    r.hasher.Update(r.buf.data(), static_cast<size_t>(n));
    r.read += static_cast<uint64_t>(n);
    if (r.meter) r.meter->hashed.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    total += n;
  }
}

// Hashes one file and records it; reports the reason to `problems` when it cannot.
void HashOne(int root_dirfd, bool follow_links, Entry& e, HashStore& store, Problems& problems, Reader& r) {
  // O_NONBLOCK: if the path became a FIFO, open must not wait for a writer.
  UniqueFd fd = OpenSourcePath(root_dirfd, e.path, O_RDONLY | O_NOCTTY | O_NONBLOCK, follow_links);
  if (!fd) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      problems.Vanish(e.path, e.path + ": vanished before it could be hashed");
    else if (err == ELOOP || err == EXDEV)
      problems.Vanish(e.path, e.path + ": changed during scan (a symlink is now in its place or path)");
    else
      problems.Fail(e.path, ErrnoMessage("cannot open " + e.path + " to hash it", err));
    return;
  }
  struct stat before{};
  if (::fstat(fd.get(), &before) != 0) {
    problems.Fail(e.path, ErrnoMessage("cannot stat " + e.path + " to hash it", errno));
    return;
  }
  CacheKey key = KeyOf(before);
  if (!S_ISREG(before.st_mode) || !SameFileAsScanned(e, key)) {
    problems.Vanish(e.path, e.path + ": changed during scan");
    return;
  }
  AdviseSequentialRead(fd.get(), e.size);
  int64_t n = HashFd(fd.get(), r);
  if (n < 0) {
    problems.Fail(e.path, ErrnoMessage("cannot read " + e.path + " to hash it", errno));
    return;
  }
  struct stat after{};
  if (::fstat(fd.get(), &after) != 0 || !(KeyOf(after) == key) ||
      static_cast<uint64_t>(n) != key.size) {
    problems.Vanish(e.path, e.path + ": changed while being hashed");
    return;
  }
  Hash128 h = r.hasher.Digest();
  e.hash = h;
  store.Record(e.path, key, h);
  store.CountHashed();
}

}  // namespace

void EnsureHashes(int root_dirfd, const std::vector<Entry*>& entries, HashStore& store, Problems& problems,
                  TransferMeter* meter, bool follow_links) {
  std::vector<Entry*> to_read;
  for (Entry* e : entries) {
    if (!e->IsFile() || e->hash) continue;
    if (std::optional<Hash128> cached = store.Lookup(*e))
      e->hash = cached;
    else
      to_read.push_back(e);
  }
  if (to_read.empty()) return;
  if (meter) {
    uint64_t to_hash = 0;
    for (const Entry* e : to_read) to_hash += e->size;
    meter->hash_total.fetch_add(to_hash, std::memory_order_relaxed);
  }
  WorkQueue<Entry*> queue(to_read.size(), [](Entry* const& e) { return ReadAheadFile{e->path, e->size}; });
  bool ahead = to_read.size() > 1;
  queue.PushAll(to_read);
  queue.Close();
  ReadAhead read_ahead(root_dirfd, queue, ahead, follow_links);
  Reader reader;
  reader.meter = meter;
  // One at a time: ReadAhead warms what is not taken yet.
  for (std::vector<Entry*> next; queue.PopSome(next, 1);) {
    Entry& e = *next[0];
    reader.read = 0;
    HashOne(root_dirfd, follow_links, e, store, problems, reader);
    if (meter && reader.read < e.size) meter->hashed.fetch_add(e.size - reader.read, std::memory_order_relaxed);
  }
}

}  // namespace ktsync
