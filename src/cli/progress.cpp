#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/output.h"

namespace ktsync {

bool ProgressLine::Wanted(const OutputOptions& o) {
  if (o.quiet || o.no_progress) return false;
  return o.progress || ::isatty(STDERR_FILENO);
}

std::string FormatDuration(double seconds) {
  if (seconds < 0 || seconds > 359999) return "--:--";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string ProgressText(uint64_t bytes, uint64_t bytes_total, uint64_t files, uint64_t files_total, double secs) {
  double frac = bytes_total ? static_cast<double>(bytes) / static_cast<double>(bytes_total)
                            : (files_total ? static_cast<double>(files) / static_cast<double>(files_total) : 1.0);
  frac = std::clamp(frac, 0.0, 1.0);
  double rate = secs > 0 ? static_cast<double>(bytes) / secs : 0;
  double eta = rate > 0 ? static_cast<double>(bytes_total - std::min(bytes, bytes_total)) / rate : -1;
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
  return std::string(pct) + "  " + HumanBytes(bytes) + " / " + HumanBytes(bytes_total) + "  files " +
         std::to_string(files) + "/" + std::to_string(files_total) + "  " +
         HumanBytes(static_cast<uint64_t>(rate)) + "/s  " +
         (bytes >= bytes_total ? "elapsed " + FormatDuration(secs) : "ETA " + FormatDuration(eta));
}

ProgressLine::ProgressLine(const OutputOptions& o, const TransferMeter& meter, uint64_t files_total,
                           uint64_t bytes_total)
    : meter_(meter), files_total_(files_total), bytes_total_(bytes_total), line_(Wanted(o)), json_(o.json) {
  if (line_ || json_) thread_ = std::thread([this] { Loop(); });
}

ProgressLine::~ProgressLine() { Finish(false); }

void ProgressLine::Finish(bool completed) {
  {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (completed) {  // everything the plan promised is done, even if counted coarsely
    shown_bytes_ = std::max(shown_bytes_, bytes_total_);
    shown_files_ = std::max(shown_files_, files_total_);
  }
  if (line_ || json_) Render(true);
}

void ProgressLine::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) Render(false);
}

void ProgressLine::Render(bool final) {
  // Monotonic by construction: a sample below what was shown is ignored.
  shown_bytes_ = std::max(shown_bytes_, std::min(meter_.bytes.load(std::memory_order_relaxed), bytes_total_));
  shown_files_ = std::max(shown_files_, std::min(meter_.files.load(std::memory_order_relaxed), files_total_));
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  if (line_) {
    std::string text = ProgressText(shown_bytes_, bytes_total_, shown_files_, files_total_, secs);
    std::cerr << "\r\033[K" << text << (final ? "\n" : "") << std::flush;
  }
  if (json_ && (final || now - last_json_ >= std::chrono::seconds(1))) {
    last_json_ = now;
    std::cout << "{\"event\":\"progress\",\"bytes\":" << shown_bytes_ << ",\"bytes_total\":" << bytes_total_
              << ",\"files\":" << shown_files_ << ",\"files_total\":" << files_total_ << ",\"seconds\":" << secs
              << "}\n"
              << std::flush;
  }
}

}  // namespace ktsync
