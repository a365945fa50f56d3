// TransferMeter: live counts of file data moved, updated by the threads that move it
// (relaxed atomics: one add per chunk, never a lock on the hot path) and sampled by the
// progress display.
#pragma once

#include <atomic>
#include <cstdint>

namespace ktsync {

struct TransferMeter {
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  void AddBytes(uint64_t n) { bytes.fetch_add(n, std::memory_order_relaxed); }
  void AddFile() { files.fetch_add(1, std::memory_order_relaxed); }
};

}  // namespace ktsync
