// Reporter: everything ktsync prints during a mirror. stdout carries results (a line per
// change: itemize lines, -v's names or --out-format's; dry-run totals, --stats; or the
// --json event stream); stderr carries warnings, errors and the live progress line.
// Nothing else in the program writes to the terminal. With --log-file the changes (in
// --log-file-format; none in a dry run, like rsync's), warnings, errors and a first and
// last line also go to that file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cli/log_file.h"
#include "cli/options.h"
#include "cli/out_format.h"
#include "manifest/plan.h"
#include "mirror/run_observer.h"
#include "util/problems.h"
#include "util/run_stats.h"

namespace ktsync {

class ProgressLine;

// Thread-safe: changes are reported as they are made, from the threads that make them.
class Reporter final : public RunObserver {
 public:
  // `where` names the run for --out-format/--log-file-format escapes and the log's first
  // line; its `push` selects '<' (sending to a remote) over '>' in itemize codes.
  Reporter(const OutputOptions& opts, bool dry_run, const ItemContext& where);
  ~Reporter() override;

  // Opens --log-file, if any, and writes its first line. Throws Error(FileIo) naming the
  // file when it cannot be opened (the caller reports it with Error, like any fatal error).
  void OpenLog();
  void SetDirection(bool push, bool pull);  // once the endpoints are known
  // The live line on the terminal, or null: a line written to the terminal while it is
  // shown clears it first (it is redrawn on its next tick), so text never runs into it.
  // Reset to null before `progress` goes away.
  void SetProgress(ProgressLine* progress);

  void Warn(const std::string& message) override;
  void Info(const std::string& message);  // shown with -v only
  // Each change (itemize lines, names, JSON items, log lines) when asked for, or in a dry run.
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
  void Event(std::string_view json);  // mu_ held; one JSON object, stamped with the schema version
  void Log(std::string_view text);    // mu_ held
  void Terminal(const std::function<void()>& write);  // mu_ held: `write` prints, progress line cleared

  OutputOptions opts_;
  bool dry_run_;
  ItemContext where_;
  std::optional<OutFormat> stdout_format_;  // the line per change on stdout, if any
  OutFormat log_format_;
  std::optional<LogFile> log_;
  bool flush_lines_;
  ProgressLine* progress_ = nullptr;
  std::mutex mu_;
  std::string pending_;
};

std::string HumanBytes(uint64_t bytes);  // "1.50 GiB"

// The --json schema's version (docs/json.md), in every event: raised when a field changes
// meaning or type or goes away; new events and fields do not raise it.
inline constexpr int kJsonSchemaVersion = 1;

}  // namespace ktsync
