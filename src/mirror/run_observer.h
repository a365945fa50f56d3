// RunObserver: what a mirror run tells whoever shows it: the CLI's Reporter, or, on a push
// server, a forwarder that sends it to the client. Called from several threads (files
// finish on the movers' threads), so implementations lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "manifest/plan.h"

namespace ktsync {

enum class TreeRole : uint8_t { Source, Destination };

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void Warn(const std::string& message) = 0;
  // False when nobody shows items (no -i, --json, -v nor dry run): they are not built then.
  virtual bool WantsItems() const = 0;
  // A change was made (a real run: when it is done) or is planned (a dry run).
  virtual void Item(const ItemView& item) = 0;
  // One tree's scan listed its last entry (`entries` counts the root).
  virtual void Scanned(TreeRole, uint64_t /*entries*/) {}
  // The plan is complete: its totals are final.
  virtual void Planned(const PlanTotals&) {}
  // The warnings kept for the peer (a server's, sent to its client as notes at the end of
  // its half); none for observers that show them themselves.
  virtual std::vector<std::string> TakeWarnings() { return {}; }

  // The run's one clock, started with the observer: event times, phase times and the
  // total all count from here, so they can be compared.
  std::chrono::steady_clock::time_point started() const { return started_; }
  double Elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count(); }

 private:
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace ktsync
