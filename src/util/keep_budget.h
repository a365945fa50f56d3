// What a list that a peer can fill keeps: at most a count and a number of bytes of items;
// the rest are counted, not kept (Problems, a peer's Reports, a server's warnings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ktsync {

class KeepBudget {
 public:
  constexpr KeepBudget(size_t max_items, size_t max_bytes) : max_items_(max_items), max_bytes_(max_bytes) {}
  // True when one more item of `bytes` fits, which is then kept; otherwise it is counted.
  bool Admit(size_t bytes) {
    if (kept_ < max_items_ && bytes_ + bytes <= max_bytes_) {
      ++kept_;
      bytes_ += bytes;
      return true;
    }
    ++dropped_;
    return false;
  }
  uint64_t dropped() const { return dropped_; }
  // The line that stands for what was not kept: "… and N more <what>, not listed".
  std::string Unlisted(std::string_view what) const {
    return "… and " + std::to_string(dropped_) + " more " + std::string(what) + ", not listed";
  }
  // Spends none of it: what was dropped elsewhere, counted here.
  void CountDropped(uint64_t n) { dropped_ += n; }
  void Reset() { kept_ = bytes_ = 0, dropped_ = 0; }

 private:
  size_t max_items_;
  size_t max_bytes_;
  size_t kept_ = 0;
  size_t bytes_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace ktsync
