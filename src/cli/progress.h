// ProgressLine: one live line on stderr (a terminal, or --progress) with bytes and files
// done of the totals planned so far (they grow while the trees are still compared: "+"
// marks them until the plan is complete), rate and ETA; with --json, "progress" events
// once a second. It never goes backwards and ends at 100 % when the run completes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <string>
#include <mutex>
#include <thread>

#include "cli/options.h"
#include "util/transfer_meter.h"

namespace ktsync {

class ProgressLine {
 public:
  // Shown when not quiet and (--progress, or stderr is a terminal), unless --no-progress.
  static bool Wanted(const OutputOptions& o);

  // `json_line` writes one JSON event line (the Reporter's, so lines never interleave);
  // `started` is the run's clock (RunObserver::started).
  ProgressLine(const OutputOptions& o, const TransferMeter& meter, std::function<void(const std::string&)> json_line,
               std::chrono::steady_clock::time_point started);
  ~ProgressLine();  // stops; the last line shows the final counts
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void Finish(bool completed);

 private:
  void Loop();
  void Sample();
  void Render(bool final);

  const TransferMeter& meter_;
  std::function<void(const std::string&)> json_line_;
  uint64_t files_total_ = 0;
  uint64_t bytes_total_ = 0;
  bool planned_ = false;
  bool line_ = false;
  bool json_ = false;
  uint64_t shown_files_ = 0;
  uint64_t shown_bytes_ = 0;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_json_ = start_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

// "1:02:03" / "2:03" for an ETA or elapsed time.
std::string FormatDuration(double seconds);
// The progress text itself, pure (tested without a terminal). `planned`: the totals are final.
std::string ProgressText(uint64_t bytes, uint64_t bytes_total, uint64_t files, uint64_t files_total, double secs,
                         bool planned = true);

}  // namespace ktsync
