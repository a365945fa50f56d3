#include "util/io_ring.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "util/error.h"

namespace ktsync {
namespace {

struct ProbeDeleter {
  void operator()(io_uring_probe* p) const { io_uring_free_probe(p); }
};

// Empty when this process can use io_uring as ktsync does; else why not.
std::string ProbeUring() {
  io_uring ring{};
  if (int r = io_uring_queue_init(4, &ring, 0); r < 0) return std::string("io_uring_setup: ") + std::strerror(-r);
  std::string why;
  std::unique_ptr<io_uring_probe, ProbeDeleter> probe(io_uring_get_probe_ring(&ring));
  if (!probe) {
    why = "io_uring cannot list its opcodes";
  } else {
    for (int op : {IORING_OP_OPENAT2, IORING_OP_FADVISE, IORING_OP_CLOSE})
      if (!io_uring_opcode_supported(probe.get(), op)) why = "io_uring lacks opcode " + std::to_string(op);
  }
  if (why.empty()) {
    io_uring_prep_nop(io_uring_get_sqe(&ring));
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_submit_and_wait(&ring, 1);
    if (r >= 0) r = io_uring_wait_cqe(&ring, &cqe);
    if (r < 0) why = std::string("io_uring submit: ") + std::strerror(-r);
    if (cqe) io_uring_cqe_seen(&ring, cqe);
  }
  io_uring_queue_exit(&ring);
  return why;
}

IoBackendChoice Choose() {
  const char* env = std::getenv("KTSYNC_IO");
  std::string want = env ? env : "auto";
  if (want == "sync") return {false, "KTSYNC_IO=sync"};
  if (want != "auto" && want != "uring")
    throw Error(ExitCode::Usage, "KTSYNC_IO='" + want + "' is not one of auto, uring, sync; unset it or pick one");
  std::string why = ProbeUring();
  if (why.empty()) return {true, ""};
  if (want == "uring")
    throw Error(ExitCode::Usage, "KTSYNC_IO=uring but io_uring is unusable here (" + why + "); unset KTSYNC_IO");
  return {false, why};
}

}  // namespace

const IoBackendChoice& ChosenIoBackend() {
  static const IoBackendChoice choice = Choose();
  return choice;
}

std::string DescribeIoBackend() {
  const IoBackendChoice& c = ChosenIoBackend();
  return c.uring ? "io_uring" : "syscalls (" + c.why_not + ")";
}

std::optional<IoRing> IoRing::Create(unsigned entries) {
  if (!ChosenIoBackend().uring) return std::nullopt;
  auto ring = std::make_unique<io_uring>();
  if (io_uring_queue_init(entries, ring.get(), 0) < 0) return std::nullopt;  // e.g. locked-memory limit
  return IoRing(std::move(ring), entries);
}

IoRing::~IoRing() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

io_uring_sqe* IoRing::NextSqe() { return io_uring_get_sqe(ring_.get()); }

void IoRing::Submit(unsigned n) {
  for (;;) {
    int r = io_uring_submit_and_wait(ring_.get(), n);
    if (r >= 0) return;
    if (r != -EINTR) throw SysError("io_uring submit", -r);
  }
}

io_uring_cqe* IoRing::WaitCqe() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_wait_cqe(ring_.get(), &cqe);
    if (r == 0) return cqe;
    if (r != -EINTR) throw SysError("io_uring wait", -r);
  }
}

}  // namespace ktsync
