// Entry credit: the manifest stream's flow control (docs/protocol.md, Credit) as pure
// accounting over values, one class per end of the stream. No I/O, no locks: the channels
// hold them under their own mutex.
//
// A source may send an entry while both hold: its ordinal is below the granted `send_below`,
// and its encoded bytes (EncodedEntryBytes), added to those of every entry before it, end at
// most at `send_bytes_below`. Counting entries alone bounded what a peer could make the other
// end hold only by count, and one entry may carry 80 KiB.
//   CreditGrantor  the destination's side: checks what comes against what it granted (a
//                  peer that sends beyond it is hostile), grants more as entries are
//                  released, and tells when the source may be starved.
//   CreditAllowance the source's side: how many of the next entries may go now, and what a
//                  peer's Credit releases (checked: never back, never beyond what was sent);
//                  whatever a peer grants, the source holds at most kMaxWindow entries and
//                  kMaxByteWindow bytes for it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>

#include "manifest/entry.h"
#include "transfer/wire.h"

namespace ktsync {

// Where each entry of a stream ends, counted in encoded bytes from the stream's start, for
// the entries not yet released: releasing entries below an ordinal tells where they ended.
class ByteLedger {
 public:
  void Append(int64_t bytes);  // the next ordinal
  // Forgets the entries below `below` (released() <= below <= count()); returns the bytes
  // they ended at.
  int64_t ReleaseBelow(int64_t below);
  int64_t count() const { return released_ + static_cast<int64_t>(ends_.size()); }
  int64_t bytes() const { return ends_.empty() ? released_bytes_ : ends_.back(); }
  int64_t released() const { return released_; }
  int64_t released_bytes() const { return released_bytes_; }

 private:
  int64_t released_ = 0;
  int64_t released_bytes_ = 0;
  std::deque<int64_t> ends_;  // byte end of entry released_ + k
};

class CreditGrantor {
 public:
  static constexpr int64_t kWindow = kInitialCredit;           // entries granted past the released ones
  static constexpr int64_t kByteWindow = kInitialByteCredit;  // bytes granted past the released ones

  // One more entry of `bytes` came: false when it is beyond what was granted.
  bool Receive(int64_t bytes);
  // Entries below `below` (at most those received) will never be asked about again: the
  // Credit to send, when the grant grew by a quarter of a window (entries or bytes), or by
  // anything when the destination is about to wait for a source that may be starved
  // (`before_wait`; at any other time a grant per entry would cost a frame per entry).
  std::optional<Credit> Release(int64_t below, bool before_wait = false);
  // True when the source may be unable to send its next entry until more is released:
  // the entry credit is used up, or less than the largest entry's bytes are left.
  bool Starved() const;
  const Credit& granted() const { return granted_; }
  int64_t received() const { return ledger_.count(); }

 private:
  Credit granted_{0, kInitialCredit, kInitialByteCredit};
  ByteLedger ledger_;
};

class CreditAllowance {
 public:
  static constexpr int64_t kMaxWindow = 2 * kInitialCredit;
  static constexpr int64_t kMaxByteWindow = 2 * kInitialByteCredit;

  // How many of `next` (the next ordinals) may be sent now; 0: wait for a Credit.
  size_t Fits(std::span<const Entry> next) const;
  void Sent(int64_t bytes);  // one entry went out
  // A peer's Credit: throws a protocol error when it releases entries out of turn; takes
  // no more room than the caps allow. Returns the new release point.
  int64_t Take(const Credit& c);
  int64_t sent() const { return ledger_.count(); }

 private:
  int64_t granted_ = kInitialCredit;
  int64_t granted_bytes_ = kInitialByteCredit;
  ByteLedger ledger_;
};

}  // namespace ktsync
