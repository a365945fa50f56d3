// Reporter: everything ktsync prints during a mirror. stdout carries results (itemize lines,
// dry-run totals, --stats, or the --json event stream); stderr carries warnings, errors and
// the live progress line. Nothing else in the program writes to the terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

#include "cli/options.h"
#include "manifest/plan.h"
#include "mirror/run_observer.h"
#include "util/problems.h"
#include "util/run_stats.h"

namespace ktsync {

// Thread-safe: changes are reported as they are made, from the threads that make them.
class Reporter final : public RunObserver {
 public:
  // `push` selects '<' (sending to a remote) over '>' (receiving) in itemize lines.
  Reporter(const OutputOptions& opts, bool dry_run, bool push);
  ~Reporter() override;

  void Warn(const std::string& message) override;
  void Info(const std::string& message);  // shown with -v only
  // Each change (itemize lines, or JSON items) when asked for, or in a dry run.
  bool WantsItems() const override;
  void Item(const ItemView& item) override;
  void Scanned(TreeRole role, uint64_t entries) override;
  void Planned(const PlanTotals& totals) override;
  void Problems(const ktsync::Problems& problems);
  void Summary(const PlanTotals& totals, const RunStats& stats, int exit_code);
  void Error(const std::string& message, int exit_code);
  // One complete JSON event line (e.g. progress), in order with the others.
  void JsonLine(const std::string& line);

  bool json() const { return opts_.json; }

 private:
  void Out(const std::string& text);  // mu_ held; flushed at once on a terminal

  OutputOptions opts_;
  bool dry_run_;
  bool push_;
  bool flush_lines_;
  std::mutex mu_;
  std::string pending_;
};

std::string HumanBytes(uint64_t bytes);  // "1.50 GiB"

}  // namespace ktsync
