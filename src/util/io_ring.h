// IoRing: sole owner of one io_uring instance, and the runtime choice of whether to use
// io_uring at all.
//
// io_uring works on this kernel but is blocked in many containers (seccomp profiles,
// kernel.io_uring_disabled) and partial in some sandboxes, so it is probed once per process:
// a ring that cannot be set up, lacks an opcode we use or does not complete a request
// switches every caller to plain syscalls.
// KTSYNC_IO=sync forces the syscall path (CI runs the test suite both ways);
// KTSYNC_IO=uring makes an unusable io_uring an error instead of a quiet fallback.
#pragma once

#include <liburing.h>

#include <memory>
#include <optional>
#include <string>

namespace ktsync {

struct IoBackendChoice {
  bool uring = false;
  std::string why_not;  // when !uring: "KTSYNC_IO=sync", or the probe's failure
};

// Decided once per process (thread-safe). Throws Error(Usage) for a bad KTSYNC_IO value or
// KTSYNC_IO=uring where io_uring is unusable.
const IoBackendChoice& ChosenIoBackend();

// One line for --stats: "io_uring" or "syscalls (<why>)".
std::string DescribeIoBackend();

class IoRing {
 public:
  // A ring with room for `entries` submissions, or nullopt when io_uring is not to be used.
  static std::optional<IoRing> Create(unsigned entries);

  IoRing(IoRing&&) noexcept = default;
  IoRing& operator=(IoRing&&) = delete;
  ~IoRing();

  unsigned capacity() const { return capacity_; }

  // The next free submission slot; never null while fewer than capacity() are pending.
  io_uring_sqe* NextSqe();

  // Submits everything queued and calls on_done(user_data, res) for each of the `n`
  // completions (res: result or -errno). Retries EINTR.
  template <class OnDone>
  void SubmitAndReap(unsigned n, OnDone&& on_done) {
    Submit(n);
    for (unsigned got = 0; got < n; ++got) {
      io_uring_cqe* cqe = WaitCqe();
      on_done(io_uring_cqe_get_data64(cqe), cqe->res);
      io_uring_cqe_seen(ring_.get(), cqe);
    }
  }

 private:
  explicit IoRing(std::unique_ptr<io_uring> ring, unsigned capacity) : ring_(std::move(ring)), capacity_(capacity) {}
  void Submit(unsigned n);
  io_uring_cqe* WaitCqe();

  std::unique_ptr<io_uring> ring_;  // set up; null only once moved from
  unsigned capacity_ = 0;
};

}  // namespace ktsync
