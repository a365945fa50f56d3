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

std::string ProgressText(uint64_t bytes, uint64_t bytes_total, uint64_t files, uint64_t files_total, double secs,
                         bool planned) {
  double frac = bytes_total ? static_cast<double>(bytes) / static_cast<double>(bytes_total)
                            : (files_total ? static_cast<double>(files) / static_cast<double>(files_total) : 1.0);
  frac = std::clamp(frac, 0.0, 1.0);
  double rate = secs > 0 ? static_cast<double>(bytes) / secs : 0;
  double eta = rate > 0 ? static_cast<double>(bytes_total - std::min(bytes, bytes_total)) / rate : -1;
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
  const char* more = planned ? "" : "+";
  return std::string(pct) + "  " + HumanBytes(bytes) + " / " + HumanBytes(bytes_total) + more + "  files " +
         std::to_string(files) + "/" + std::to_string(files_total) + more + "  " +
         HumanBytes(static_cast<uint64_t>(rate)) + "/s  " +
         (!planned ? "comparing" : bytes >= bytes_total ? "elapsed " + FormatDuration(secs) : "ETA " + FormatDuration(eta));
}

ProgressLine::ProgressLine(const OutputOptions& o, const TransferMeter& meter,
                           std::function<void(const std::string&)> json_line,
                           std::chrono::steady_clock::time_point started)
    : meter_(meter), json_line_(std::move(json_line)), line_(Wanted(o)), json_(o.json), start_(started) {
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
  Sample();
  if (completed) {  // everything the plan promised is done, even if counted coarsely
    planned_ = true;
    shown_bytes_ = std::max(shown_bytes_, bytes_total_);
    shown_files_ = std::max(shown_files_, files_total_);
  }
  if (line_ || json_) Render(true);
}

void ProgressLine::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) Render(false);
}

// Monotonic by construction: totals only grow, and a count below what was shown is ignored.
void ProgressLine::Sample() {
  planned_ = planned_ || meter_.planned.load();
  bytes_total_ = std::max(bytes_total_, meter_.bytes_total.load(std::memory_order_relaxed));
  files_total_ = std::max(files_total_, meter_.files_total.load(std::memory_order_relaxed));
  shown_bytes_ = std::max(shown_bytes_, std::min(meter_.bytes.load(std::memory_order_relaxed), bytes_total_));
  shown_files_ = std::max(shown_files_, std::min(meter_.files.load(std::memory_order_relaxed), files_total_));
}

void ProgressLine::Render(bool final) {
  if (!final) Sample();
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  if (line_) {
    std::string text = ProgressText(shown_bytes_, bytes_total_, shown_files_, files_total_, secs, planned_);
    std::cerr << "\r\033[K" << text << (final ? "\n" : "") << std::flush;
  }
  if (json_ && (final || now - last_json_ >= std::chrono::seconds(1))) {
    last_json_ = now;
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "{\"event\":\"progress\",\"bytes\":%llu,\"bytes_total\":%llu,\"files\":%llu,\"files_total\":%llu,"
                  "\"seconds\":%.6f}\n",
                  static_cast<unsigned long long>(shown_bytes_), static_cast<unsigned long long>(bytes_total_),
                  static_cast<unsigned long long>(shown_files_), static_cast<unsigned long long>(files_total_), secs);
    json_line_(buf);
  }
}

}  // namespace ktsync
