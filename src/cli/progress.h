// ProgressLine: one live line on stderr (a terminal, or --progress) with bytes and files
// done of the exact totals the plan knows, rate and ETA; with --json, "progress" events on
// stdout once a second. It never goes backwards and ends at 100 % when the run completes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "cli/options.h"
#include "util/transfer_meter.h"

namespace ktsync {

class ProgressLine {
 public:
  // Shown when not quiet and (--progress, or stderr is a terminal), unless --no-progress.
  static bool Wanted(const OutputOptions& o);

  ProgressLine(const OutputOptions& o, const TransferMeter& meter, uint64_t files_total, uint64_t bytes_total);
  ~ProgressLine();  // stops; the last line shows the final counts
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Finish(bool completed);

 private:
  void Loop();
  void Render(bool final);

  const TransferMeter& meter_;
  uint64_t files_total_;
  uint64_t bytes_total_;
  bool line_ = false;
  bool json_ = false;
  uint64_t shown_files_ = 0;
  uint64_t shown_bytes_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_json_ = start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

// "1:02:03" / "2:03" for an ETA or elapsed time.
std::string FormatDuration(double seconds);
// The progress text itself, pure (tested without a terminal).
std::string ProgressText(uint64_t bytes, uint64_t bytes_total, uint64_t files, uint64_t files_total, double secs);

}  // namespace ktsync
