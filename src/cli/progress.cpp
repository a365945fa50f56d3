#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

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

namespace {

// One piece of the line; the higher `drop`, the sooner it goes when the line is too wide.
struct Field {
  std::string text;
  int drop;
};

std::string Join(const std::vector<Field>& fields) {
  std::string out;
  for (const Field& f : fields) out += (out.empty() ? "" : "  ") + f.text;
  return out;
}

std::string FitFields(std::vector<Field> fields, size_t width) {
  std::string line = Join(fields);
  while (width && line.size() > width && fields.size() > 1) {
    fields.erase(std::max_element(fields.begin(), fields.end(),
                                  [](const Field& a, const Field& b) { return a.drop < b.drop; }));
    line = Join(fields);
  }
  if (width && line.size() > width) line.resize(width);
  return line;
}

std::string Percent(uint64_t done, uint64_t total) {
  double frac = total ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0) : 1.0;
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
  return pct;
}

// Scanning and hashing: what this machine does before the first file is wanted.
std::vector<Field> ControlFields(const ProgressSample& s) {
  std::string scanned = std::to_string(s.scanned) + " entries";
  if (s.hashed >= s.hash_total) return {{"scanning", 0}, {scanned, 1}, {FormatDuration(s.secs), 2}};
  return {{"hashing", 0},
          {Percent(s.hashed, s.hash_total), 1},
          {HumanBytes(s.hashed) + " / " + HumanBytes(s.hash_total), 2},
          {scanned + " scanned", 4},
          {FormatDuration(s.secs), 3}};
}

// The plan is complete and wants no file data: what was compared instead of "0 B / 0 B".
std::vector<Field> NothingToSendFields(const ProgressSample& s) {
  std::vector<Field> fields = {{"100%", 0}, {"no file data to send", 1}, {std::to_string(s.scanned) + " entries scanned", 3}};
  if (s.hash_total) fields.push_back({HumanBytes(s.hashed) + " hashed", 4});
  fields.push_back({"elapsed " + FormatDuration(s.secs), 2});
  return fields;
}

std::vector<Field> TransferFields(const ProgressSample& s) {
  uint64_t done = s.bytes_total ? s.bytes : s.files;
  uint64_t total = s.bytes_total ? s.bytes_total : s.files_total;
  double rate = s.secs > 0 ? static_cast<double>(s.bytes) / s.secs : 0;
  double eta = rate > 0 ? static_cast<double>(s.bytes_total - std::min(s.bytes, s.bytes_total)) / rate : -1;
  const char* more = s.planned ? "" : "+";
  return {{Percent(done, total), 0},
          {HumanBytes(s.bytes) + " / " + HumanBytes(s.bytes_total) + more, 1},
          {"files " + std::to_string(s.files) + "/" + std::to_string(s.files_total) + more, 3},
          {HumanBytes(static_cast<uint64_t>(rate)) + "/s", 4},
          {!s.planned                   ? "comparing"
           : s.bytes >= s.bytes_total ? "elapsed " + FormatDuration(s.secs)
                                        : "ETA " + FormatDuration(eta),
           2}};
}

// The terminal's width (a resized window counts from its next line), else $COLUMNS, else 80.
size_t TerminalColumns(int fd) {
  struct winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    long n = std::strtol(c, nullptr, 10);
    if (n > 0 && n < 10000) return static_cast<size_t>(n);
  }
  return 80;
}

}  // namespace

std::string ProgressText(const ProgressSample& s, size_t width) {
  if (s.files_total > 0) return FitFields(TransferFields(s), width);
  return FitFields(s.planned ? NothingToSendFields(s) : ControlFields(s), width);
}

ProgressLine::ProgressLine(const OutputOptions& o, const TransferMeter& meter,
                           std::function<void(const std::string&)> json_line,
                           std::chrono::steady_clock::time_point started)
    : meter_(meter),
      json_line_(std::move(json_line)),
      line_(Wanted(o)),
      tty_(::isatty(STDERR_FILENO) != 0),
      json_(o.json),
      start_(started) {
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
    shown_.planned = true;
    shown_.bytes = std::max(shown_.bytes, shown_.bytes_total);
    shown_.files = std::max(shown_.files, shown_.files_total);
  }
  if (line_ || json_) Render(true);
}

void ProgressLine::WriteAbove(const std::function<void()>& write) {
  std::lock_guard lock(term_mu_);
  if (drawn_) {
    std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }
  write();
}

void ProgressLine::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stop_; })) Render(false);
}

// Monotonic by construction: totals only grow, and a count below what was shown is ignored.
void ProgressLine::Sample() {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  ProgressSample& s = shown_;
  s.planned = s.planned || meter_.planned.load();
  s.bytes_total = std::max(s.bytes_total, meter_.bytes_total.load(kRelaxed));
  s.files_total = std::max(s.files_total, meter_.files_total.load(kRelaxed));
  s.bytes = std::max(s.bytes, std::min(meter_.bytes.load(kRelaxed), s.bytes_total));
  s.files = std::max(s.files, std::min(meter_.files.load(kRelaxed), s.files_total));
  s.scanned = std::max(s.scanned, meter_.scanned.load(kRelaxed));
  s.hash_total = std::max(s.hash_total, meter_.hash_total.load(kRelaxed));
  s.hashed = std::max(s.hashed, std::min(meter_.hashed.load(kRelaxed), s.hash_total));
}

void ProgressLine::Render(bool final) {
  if (!final) Sample();
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - start_).count();
  shown_.secs = secs;
  if (line_ && tty_) {
    // One column spare: a line that fills the last one makes some terminals wrap.
    std::string text = ProgressText(shown_, std::max<size_t>(TerminalColumns(STDERR_FILENO), 2) - 1);
    std::lock_guard lock(term_mu_);
    std::cerr << "\r\033[K" << text << (final ? "\n" : "") << std::flush;
    drawn_ = !final;
  } else if (line_ && (final || now - last_plain_ >= std::chrono::seconds(1))) {
    last_plain_ = now;
    std::cerr << ProgressText(shown_) << "\n" << std::flush;
  }
  if (json_ && (final || now - last_json_ >= std::chrono::seconds(1))) {
    last_json_ = now;
    char buf[320];
    using ull = unsigned long long;
    std::snprintf(buf, sizeof buf,
                  "{\"event\":\"progress\",\"bytes\":%llu,\"bytes_total\":%llu,\"files\":%llu,\"files_total\":%llu,"
                  "\"scanned\":%llu,\"hashed\":%llu,\"hash_total\":%llu,\"seconds\":%.6f}\n",
                  ull{shown_.bytes}, ull{shown_.bytes_total}, ull{shown_.files}, ull{shown_.files_total},
                  ull{shown_.scanned}, ull{shown_.hashed}, ull{shown_.hash_total}, secs);
    json_line_(buf);
  }
}

}  // namespace ktsync
