// ProgressLine: one live line on stderr (a terminal, or --progress) with bytes and files
// done of the totals planned so far (they grow while the trees are still compared: "+"
// marks them until the plan is complete), rate and ETA; before anything is to move, the
// control phase instead (entries scanned, bytes hashed of those to hash). It never goes
// backwards and ends at 100 % when the run completes. On a terminal the line is redrawn
// in place and cut to the terminal's width (it never wraps); elsewhere (--progress into a
// file or pipe) it is a plain line, no control codes, once a second. With --json,
// "progress" events once a second.
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

// What the display shows, as of one moment.
struct ProgressSample {
  uint64_t bytes = 0;
  uint64_t bytes_total = 0;
  uint64_t files = 0;
  uint64_t files_total = 0;
  bool planned = false;  // the totals are final
  uint64_t scanned = 0;  // entries listed (both trees, where scanned here)
  uint64_t hashed = 0;   // bytes hashed here, of
  uint64_t hash_total = 0;
  double secs = 0;       // since the run started
};

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

  // Runs `write`, which prints a line to the terminal, with the live line cleared first
  // when it is drawn (its next tick redraws it below): the one terminal writer, so that
  // names and warnings never run into the line. Takes only a lock of its own, never
  // held while calling out, so the Reporter may call it under its lock.
  void WriteAbove(const std::function<void()>& write);

 private:
  void Loop();
  void Sample();
  void Render(bool final);

  const TransferMeter& meter_;
  std::function<void(const std::string&)> json_line_;
  ProgressSample shown_;  // monotonic: see Sample()
  bool line_ = false;
  bool tty_ = false;  // stderr is a terminal: the line is redrawn in place
  bool json_ = false;
  const std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_json_ = start_;
  std::chrono::steady_clock::time_point last_plain_ = start_;
  std::mutex term_mu_;  // the terminal: drawing the line, and WriteAbove
  bool drawn_ = false;  // term_mu_: the line is on the screen without its newline
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool finished_ = false;
  std::thread thread_;
};

// "1:02:03" / "2:03" for an ETA or elapsed time.
std::string FormatDuration(double seconds);
// The progress text itself, pure (tested without a terminal): the transfer once a file is
// to move; before, the control phase, or what was compared once the plan wants no data. Fields are dropped,
// least telling first (rate, files, ...), until it fits in `width` columns (0: no limit);
// the last one left is cut.
std::string ProgressText(const ProgressSample& s, size_t width = 0);

}  // namespace ktsync
