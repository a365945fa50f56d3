// WorkQueue: files waiting to be read (hashed, copied, sent), in the order readers take
// them. Producers append while readers take, so a file can be read before the last one is
// known; the capacity bounds what waits in memory. ReadAhead (read_ahead.h) walks the queue
// a window ahead of the readers.
//
// Thread-safe. Positions count every item ever pushed: the item at position p is the p-th
// one pushed, and readers have taken exactly the positions below taken().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "util/read_ahead.h"

namespace ktsync {

template <class Item>
class WorkQueue final : public ReadAheadList {
 public:
  using Describe = std::function<ReadAheadFile(const Item&)>;

  WorkQueue(size_t capacity, Describe describe) : capacity_(capacity), describe_(std::move(describe)) {}

  // Blocks while the queue is full; false (the item dropped) once closed.
  bool Push(Item item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Blocks until an item is there; false once the queue is closed and empty.
  bool Pop(Item& out) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return false;
    out = std::move(items_.front());
    items_.pop_front();
    ++taken_;
    not_full_.notify_one();
    return true;
  }

  // An item if one is queued now; never blocks.
  bool TryPop(Item& out) {
    std::lock_guard lock(mu_);
    if (items_.empty()) return false;
    out = std::move(items_.front());
    items_.pop_front();
    ++taken_;
    not_full_.notify_one();
    return true;
  }

  // No more items: readers drain what is queued, then Pop returns false. With `discard`,
  // what is queued is dropped too (the run failed; Push blockers wake up).
  void Close(bool discard = false) {
    std::lock_guard lock(mu_);
    closed_ = true;
    if (discard) {
      taken_ += items_.size();
      items_.clear();
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  uint64_t taken() const override {
    std::lock_guard lock(mu_);
    return taken_;
  }

  void Peek(uint64_t from, size_t max, std::vector<std::pair<uint64_t, ReadAheadFile>>& out) const override {
    std::lock_guard lock(mu_);
    uint64_t pos = from < taken_ ? taken_ : from;
    for (; pos - taken_ < items_.size() && out.size() < max; ++pos)
      out.emplace_back(pos, describe_(items_[static_cast<size_t>(pos - taken_)]));
  }

 private:
  const size_t capacity_;
  const Describe describe_;
  mutable std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Item> items_;
  uint64_t taken_ = 0;
  bool closed_ = false;
};

}  // namespace ktsync
