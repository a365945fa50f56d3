// Reporter: everything ktsync prints during a mirror. stdout carries results (itemize lines,
// dry-run totals, --stats, or the --json event stream); stderr carries warnings, errors and
// the live progress line. Nothing else in the program writes to the terminal.
#pragma once

#include <cstdint>
#include <string>

#include "cli/options.h"
#include "manifest/plan.h"
#include "util/problems.h"
#include "util/run_stats.h"

namespace ktsync {

class Reporter {
 public:
  explicit Reporter(const OutputOptions& opts, bool dry_run);

  void Warn(const std::string& message);
  void Info(const std::string& message);  // shown with -v only
  // Prints each planned change (itemize lines, or JSON items) when asked or in a dry run.
  // `push` selects '<' (sending to a remote) over '>' (receiving) in itemize lines.
  void PlanItems(const Plan& plan, const Manifest& src, const Manifest& dst, bool push);
  void Problems(const ktsync::Problems& problems);
  void Summary(const Plan& plan, const RunStats& stats, int exit_code);
  void Error(const std::string& message, int exit_code);

  bool json() const { return opts_.json; }

 private:
  OutputOptions opts_;
  bool dry_run_;
};

std::string HumanBytes(uint64_t bytes);  // "1.50 GiB"

}  // namespace ktsync
