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

// Items are handed over in groups of up to kGroupItems adding up to at most kGroupBytes
// (a larger one alone): a hand-off per file costs more than copying a small one.
inline constexpr size_t kGroupItems = 64;
inline constexpr uint64_t kGroupBytes = 1 << 20;

template <class Item>
class WorkQueue final : public ReadAheadList {
 public:
  using Describe = std::function<ReadAheadFile(const Item&)>;

  WorkQueue(size_t capacity, Describe describe) : capacity_(capacity), describe_(std::move(describe)) {}

  // Push for each of `items`, under one lock: one hand-off instead of one per item. A
  // producer that found the queue full waits until it is half empty, not for each slot.
  // False once closed (the rest dropped). `items` is left empty.
  bool PushAll(std::vector<Item>& items) {
    std::unique_lock lock(mu_);
    bool open = true;
    for (Item& item : items) {
      if (items_.size() >= capacity_) {
        not_empty_.notify_all();
        not_full_.wait(lock, [&] { return items_.size() <= capacity_ / 2 || closed_; });
      }
      if (closed_) {
        open = false;
        break;
      }
      items_.push_back(std::move(item));
    }
    items.clear();
    not_empty_.notify_all();
    return open;
  }

  // Takes at least one item and then more while they add up to at most `max_bytes` (by
  // their description's size) and `max_items`: small files go in groups, a large one alone.
  // Blocks until an item is there; false once the queue is closed and empty.
  bool PopSome(std::vector<Item>& out, size_t max_items = kGroupItems, uint64_t max_bytes = kGroupBytes) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    return TakeSome(out, max_items, max_bytes);
  }

  // PopSome if items are queued now; never blocks.
  bool TryPopSome(std::vector<Item>& out, size_t max_items = kGroupItems, uint64_t max_bytes = kGroupBytes) {
    std::lock_guard lock(mu_);
    return TakeSome(out, max_items, max_bytes);
  }

  // No more items: readers drain what is queued, then PopSome returns false. With
  // `discard`, what is queued is dropped too (the run failed; a waiting PushAll wakes up).
  void Close(bool discard = false) {
    std::lock_guard lock(mu_);
    closed_ = true;
    discarded_ = discarded_ || discard;
    if (discard) {
      taken_ += items_.size();
      items_.clear();
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  bool discarded() const {  // closed with `discard`: the run failed
    std::lock_guard lock(mu_);
    return discarded_;
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
  bool TakeSome(std::vector<Item>& out, size_t max_items, uint64_t max_bytes) {  // mu_ held
    out.clear();
    uint64_t bytes = 0;
    while (!items_.empty() && out.size() < max_items) {
      uint64_t size = describe_(items_.front()).size;
      if (!out.empty() && bytes + size > max_bytes) break;
      bytes += size;
      out.push_back(std::move(items_.front()));
      items_.pop_front();
      ++taken_;
    }
    if (items_.size() <= capacity_ / 2) not_full_.notify_one();
    return !out.empty();
  }

  const size_t capacity_;
  const Describe describe_;
  mutable std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Item> items_;
  uint64_t taken_ = 0;
  bool closed_ = false;
  bool discarded_ = false;
};

}  // namespace ktsync
