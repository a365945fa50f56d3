// TransferMeter: live counts of file data moved, updated by the threads that move it
// (relaxed atomics: one add per chunk, never a lock on the hot path) and sampled by the
// progress display. The totals grow while the plan is still being made (data moves while
// the trees are listed); `planned` says they are final. Before anything moves the display
// shows the control phases, from what this machine does: entries its scans listed, and
// bytes its hash fills read of those they set out to read.
#pragma once

#include <atomic>
#include <cstdint>

namespace ktsync {

struct TransferMeter {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> files_total{0};
  std::atomic<uint64_t> bytes_total{0};
  std::atomic<bool> planned{false};
  std::atomic<uint64_t> scanned{0};
  std::atomic<uint64_t> hashed{0};
  std::atomic<uint64_t> hash_total{0};
  void AddBytes(uint64_t n) { bytes.fetch_add(n, std::memory_order_relaxed); }
  void AddFile() { files.fetch_add(1, std::memory_order_relaxed); }
  void AddPlanned(uint64_t size) {
    files_total.fetch_add(1, std::memory_order_relaxed);
    bytes_total.fetch_add(size, std::memory_order_relaxed);
  }
};

}  // namespace ktsync
