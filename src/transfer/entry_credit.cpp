#include "transfer/entry_credit.h"

#include <algorithm>

#include "transfer/byte_io.h"

namespace ktsync {

void ByteLedger::Append(int64_t bytes) { ends_.push_back(this->bytes() + bytes); }

int64_t ByteLedger::ReleaseBelow(int64_t below) {
  while (released_ < below && !ends_.empty()) {
    released_bytes_ = ends_.front();
    ends_.pop_front();
    ++released_;
  }
  return released_bytes_;
}

bool CreditGrantor::Receive(int64_t bytes) {
  if (ledger_.count() >= granted_.send_below || ledger_.bytes() + bytes > granted_.send_bytes_below) return false;
  ledger_.Append(bytes);
  return true;
}

std::optional<Credit> CreditGrantor::Release(int64_t below, bool before_wait) {
  bool starved = before_wait && Starved();
  // A starved source may lack room that earlier releases freed but did not grant.
  if (below <= ledger_.released() && !starved) return std::nullopt;
  int64_t bytes = ledger_.ReleaseBelow(below);
  Credit next{ledger_.released(), ledger_.released() + kWindow, bytes + kByteWindow};
  int64_t more = next.send_below - granted_.send_below;
  int64_t more_bytes = next.send_bytes_below - granted_.send_bytes_below;
  // Small grants would cost a frame per entry; a starved source needs any room it can get.
  bool worth = more >= kWindow / 4 || more_bytes >= kByteWindow / 4 || (starved && (more > 0 || more_bytes > 0));
  if (!worth) return std::nullopt;
  // What was granted is never taken back: the source may already be sending it.
  next.send_below = std::max(next.send_below, granted_.send_below);
  next.send_bytes_below = std::max(next.send_bytes_below, granted_.send_bytes_below);
  granted_ = next;
  return next;
}

bool CreditGrantor::Starved() const {
  return ledger_.count() >= granted_.send_below || granted_.send_bytes_below - ledger_.bytes() < kMaxEncodedEntryBytes;
}

size_t CreditAllowance::Fits(std::span<const Entry> next) const {
  int64_t room = granted_ - ledger_.count();
  int64_t bytes = ledger_.bytes();
  size_t n = 0;
  for (; n < next.size() && static_cast<int64_t>(n) < room; ++n) {
    auto entry_bytes = static_cast<int64_t>(EncodedEntryBytes(next[n]));
    // One the wire cannot carry goes to the encoder, which refuses it by name: waiting
    // for room it might never get would hang both ends.
    if (entry_bytes > kMaxEncodedEntryBytes) return n + 1;
    bytes += entry_bytes;
    if (bytes > granted_bytes_) break;
  }
  return n;
}

void CreditAllowance::Sent(int64_t bytes) { ledger_.Append(bytes); }

int64_t CreditAllowance::Take(const Credit& c) {
  if (c.release_below < ledger_.released() || c.release_below > ledger_.count())
    ThrowProtocolError("credit releases entries out of turn");
  int64_t bytes = ledger_.ReleaseBelow(c.release_below);
  // Whatever a peer grants, we hold no more than the caps for it.
  granted_ = std::max(granted_, std::min(c.send_below, c.release_below + kMaxWindow));
  granted_bytes_ = std::max(granted_bytes_, std::min(c.send_bytes_below, bytes + kMaxByteWindow));
  return c.release_below;
}

}  // namespace ktsync
