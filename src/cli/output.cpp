#include "cli/output.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "cli/itemize.h"
#include "cli/progress.h"
#include "util/io_ring.h"

namespace ktsync {
namespace {

// Messages carry a peer's text (its Report frames, its file names). Printed raw, an escape
// sequence in them would drive the user's terminal (retitle it, clear it, fake output), so
// they are escaped like itemized names (\#ooo for control bytes and invalid UTF-8) plus the
// C1 controls U+0080..U+009F, which some terminals obey in UTF-8 too. One line, always.
std::string TerminalSafe(std::string_view s) {
  std::string named = EscapeItemName(s);
  std::string out;
  out.reserve(named.size());
  for (size_t i = 0; i < named.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(named[i]);
    unsigned char next = i + 1 < named.size() ? static_cast<unsigned char>(named[i + 1]) : 0;
    if (b == 0xC2 && next >= 0x80 && next <= 0x9F) {  // valid UTF-8 here: EscapeItemName kept it
      for (unsigned char c : {b, next}) {
        out += "\\#";
        out += static_cast<char>('0' + ((c >> 6) & 7));
        out += static_cast<char>('0' + ((c >> 3) & 7));
        out += static_cast<char>('0' + (c & 7));
      }
      ++i;
    } else {
      out += static_cast<char>(b);
    }
  }
  return out;
}

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", s);
  return buf;
}

std::string Ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", r);
  return buf;
}

std::string Rate(uint64_t bytes, double secs) {
  if (secs <= 0) return "-";
  return HumanBytes(static_cast<uint64_t>(static_cast<double>(bytes) / secs)) + "/s";
}

// File bytes per byte on the data connections: what -z saved (0 when nothing crossed).
double CompressionRatio(const RunStats& s) {
  return s.wire_bytes ? static_cast<double>(s.bytes_sent) / static_cast<double>(s.wire_bytes) : 0;
}

void StatsText(const PlanTotals& totals, const RunStats& s, bool dry_run) {
  std::ostringstream o;
  o << "\nNumber of entries: " << s.src_entries << " in SRC, " << s.dst_entries << " in DST\n"
    << "Total file size in SRC: " << s.src_file_bytes << " (" << HumanBytes(s.src_file_bytes) << ")\n"
    << "Hashed: " << s.hashed_src << " SRC, " << s.hashed_dst << " DST files; cache hits: "
    << s.cache_hits_src << " SRC, " << s.cache_hits_dst << " DST\n";
  if (dry_run) {
    o << TotalsText(totals);
  } else {
    o << "Files sent: " << s.files_sent << " (" << s.bytes_sent << " bytes, " << HumanBytes(s.bytes_sent)
      << ")\n"
      << "Deleted: " << s.deleted
      << (!s.deletes_refused.empty() ? " (deletions refused: over a deletion limit)"
          : s.deletes_skipped        ? " (deletions skipped after errors)"
                                     : "")
      << "\n"
      << "Metadata-only updates: " << s.meta_fixed << "\n"
      << "Other changes (dirs, links, specials): " << s.created_other << "\n";
  }
  if (s.wire_bytes) o << "Bytes on the wire: " << s.wire_bytes << "\n";
  if (!s.encryption_send.empty()) o << "Encryption, sending: " << s.encryption_send << "\n";
  if (!s.encryption_recv.empty()) o << "Encryption, receiving: " << s.encryption_recv << "\n";
  if (s.streams) o << "Data streams: " << s.streams << "\n";
  if (!s.data_path.empty()) o << "Data path: " << s.data_path << " (" << s.data_path_why << ")\n";
  if (s.compress_level && s.wire_bytes) {
    o << "Compression: zstd level " << s.compress_level << ", " << HumanBytes(s.bytes_sent) << " of file data took "
      << HumanBytes(s.wire_bytes) << " on the wire (" << Ratio(CompressionRatio(s)) << ":1)\n";
  }
  o << "Read-ahead I/O: " << DescribeIoBackend() << "\n";
  o << "Time: scan " << Seconds(s.scan_s) << " (of which hash " << Seconds(s.hash_s) << "), plan complete at "
    << Seconds(s.plan_s) << ", then transfer " << Seconds(s.transfer_s) << ", finish " << Seconds(s.finish_s)
    << ", total " << Seconds(s.total_s) << "\n"
    << "Throughput: " << Rate(s.bytes_sent, s.transfer_s) << "\n";
  std::cout << o.str() << std::flush;
}

std::string SummaryJson(const PlanTotals& totals, const RunStats& s, bool dry_run, int exit_code) {
  std::ostringstream o;
  o << "{\"event\":\"summary\",\"dry_run\":" << (dry_run ? "true" : "false")
    << ",\"exit_code\":" << exit_code << ",\"src_entries\":" << s.src_entries
    << ",\"dst_entries\":" << s.dst_entries << ",\"src_file_bytes\":" << s.src_file_bytes
    << ",\"hashed_src\":" << s.hashed_src << ",\"hashed_dst\":" << s.hashed_dst
    << ",\"cache_hits_src\":" << s.cache_hits_src << ",\"cache_hits_dst\":" << s.cache_hits_dst
    << ",\"files_to_send\":" << totals.files_to_send
    << ",\"bytes_to_send\":" << totals.bytes_to_send << ",\"to_delete\":" << totals.to_delete
    << ",\"meta_only\":" << totals.meta_only << ",\"files_sent\":" << s.files_sent
    << ",\"bytes_sent\":" << s.bytes_sent << ",\"wire_bytes\":" << s.wire_bytes
    << ",\"deleted\":" << s.deleted << ",\"meta_fixed\":" << s.meta_fixed
    << ",\"created_other\":" << s.created_other
    << ",\"deletes_skipped\":" << (s.deletes_skipped ? "true" : "false")
    << ",\"encryption_send\":\"" << JsonEscape(s.encryption_send) << "\""
    << ",\"encryption_recv\":\"" << JsonEscape(s.encryption_recv) << "\""
    << ",\"data_path\":\"" << JsonEscape(s.data_path) << "\""
    << ",\"data_path_why\":\"" << JsonEscape(s.data_path_why) << "\""
    << ",\"compress_level\":" << s.compress_level << ",\"compression_ratio\":" << CompressionRatio(s)
    << ",\"streams\":" << s.streams << ",\"seconds\":{\"scan\":" << s.scan_s << ",\"hash\":" << s.hash_s
    << ",\"plan\":" << s.plan_s << ",\"transfer\":" << s.transfer_s << ",\"finish\":" << s.finish_s
    << ",\"total\":" << s.total_s << "}}\n";
  return o.str();
}

// The log's last line: what was done (or, in a dry run, would be) and the exit code.
std::string EndLogLine(const PlanTotals& totals, const RunStats& s, bool dry_run, int exit_code) {
  std::ostringstream o;
  if (dry_run) {
    o << "dry run done: would send " << totals.files_to_send << " files (" << totals.bytes_to_send
      << " bytes), delete " << totals.to_delete << ", update " << totals.meta_only << ", make "
      << totals.created_other << " other changes";
  } else {
    o << "done: sent " << s.files_sent << " files (" << s.bytes_sent << " bytes), deleted " << s.deleted
      << ", updated " << s.meta_fixed << ", made " << s.created_other << " other changes";
  }
  o << "; SRC holds " << s.src_entries << " entries, " << s.src_file_bytes << " bytes in files; " << Seconds(s.total_s)
    << "; exit code " << exit_code;
  return o.str();
}

// Like item events: a name that is not valid UTF-8 also gets its raw bytes, losslessly.
std::string PathHexField(const std::string& path) {
  if (IsValidUtf8(path)) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = ",\"path_hex\":\"";
  for (char c : path) {
    out += kHex[static_cast<unsigned char>(c) >> 4];
    out += kHex[static_cast<unsigned char>(c) & 15];
  }
  return out + "\"";
}

// -i and a dry run print itemize lines, -v names; --out-format replaces either.
std::optional<OutFormat> StdoutFormat(const OutputOptions& o, bool dry_run) {
  if (!o.out_format.empty()) return OutFormat::Parse(o.out_format, "--out-format");
  if (o.itemize || dry_run) return OutFormat::Parse("%i %n%L", "-i");
  if (o.verbose > 0) return OutFormat::Parse("%n%L", "-v");
  return std::nullopt;
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

Reporter::Reporter(const OutputOptions& opts, bool dry_run, const ItemContext& where)
    : opts_(opts),
      dry_run_(dry_run),
      where_(where),
      stdout_format_(opts.json || opts.quiet ? std::nullopt : StdoutFormat(opts, dry_run)),
      log_format_(OutFormat::Parse(opts.log_file_format, "--log-file-format")),
      flush_lines_(::isatty(STDOUT_FILENO) != 0) {
  where_.pid = ::getpid();
}

void Reporter::OpenLog() {
  std::lock_guard lock(mu_);
  if (opts_.log_file.empty() || log_) return;
  log_.emplace(opts_.log_file);
  log_->Line(std::string(dry_run_ ? "dry run: " : "") + "mirror " + TerminalSafe(where_.src_root) + " " +
             TerminalSafe(where_.dst_root) + " (ktsync " + KTSYNC_VERSION + ")");
}

void Reporter::SetDirection(bool push, bool pull) {
  std::lock_guard lock(mu_);
  where_.push = push;
  where_.pull = pull;
}

void Reporter::SetProgress(ProgressLine* progress) {
  std::lock_guard lock(mu_);
  progress_ = progress;
}

void Reporter::Terminal(const std::function<void()>& write) {
  if (progress_) progress_->WriteAbove(write);
  else write();
}

Reporter::~Reporter() {
  std::lock_guard lock(mu_);
  std::cout << pending_ << std::flush;
}

void Reporter::Out(const std::string& text) {
  pending_ += text;
  if (flush_lines_) {  // a terminal: maybe the one the progress line is drawn on
    Terminal([this] { std::cout << pending_ << std::flush; });
    pending_.clear();
  } else if (pending_.size() > (1 << 16)) {
    std::cout << pending_ << std::flush;
    pending_.clear();
  }
}

// A field after "event" (every event's first), so each line says which schema it follows.
void Reporter::Event(std::string_view json) {
  size_t at = json.find_first_of(",}");
  std::string line(json.substr(0, at));
  line += ",\"version\":" + std::to_string(kJsonSchemaVersion);
  line += json.substr(at);
  Out(line);
}

void Reporter::Log(std::string_view text) {
  if (log_) log_->Line(text);
}

void Reporter::Warn(const std::string& message) {
  std::lock_guard lock(mu_);
  if (opts_.json) Event("{\"event\":\"warning\",\"message\":\"" + JsonEscape(message) + "\"}\n");
  Log("warning: " + TerminalSafe(message));
  if (!opts_.quiet) Terminal([&] { std::cerr << "ktsync: warning: " << TerminalSafe(message) << "\n" << std::flush; });
}

void Reporter::Info(const std::string& message) {
  if (opts_.verbose == 0 || opts_.quiet || opts_.json) return;
  std::lock_guard lock(mu_);
  Terminal([&] { std::cerr << "ktsync: " << TerminalSafe(message) << "\n" << std::flush; });
}

// A dry run logs no changes (rsync's): its first and last lines say what it was.
bool Reporter::WantsItems() const { return opts_.json || stdout_format_ || (log_ && !dry_run_); }

void Reporter::Item(const ItemView& item) {
  if (!WantsItems()) return;
  ItemContext at = where_;
  at.now = std::time(nullptr);
  std::string json;
  if (opts_.json && !(json = ItemJson(item, where_.push)).empty()) {
    json.pop_back();  // the closing brace: the time goes in
    char t[32];
    std::snprintf(t, sizeof t, ",\"t\":%.6f}\n", Elapsed());
    json += t;
  }
  std::string line = stdout_format_ ? stdout_format_->Line(item, at) : "";
  std::string logged = log_ && !dry_run_ ? log_format_.Line(item, at) : "";
  std::lock_guard lock(mu_);
  if (!json.empty()) Event(json);
  if (!line.empty()) Out(line + '\n');
  if (!logged.empty()) Log(logged);
}

void Reporter::JsonLine(const std::string& line) {
  std::lock_guard lock(mu_);
  Event(line);
}

void Reporter::Scanned(TreeRole role, uint64_t entries) {
  if (!opts_.json) return;
  char buf[128];
  std::snprintf(buf, sizeof buf, "{\"event\":\"scanned\",\"side\":\"%s\",\"entries\":%llu,\"t\":%.6f}\n",
                role == TreeRole::Source ? "src" : "dst", static_cast<unsigned long long>(entries), Elapsed());
  std::lock_guard lock(mu_);
  Event(buf);
}

void Reporter::Planned(const PlanTotals& totals) {
  if (!opts_.json) return;
  char t[64];
  std::snprintf(t, sizeof t, "{\"event\":\"plan\",\"t\":%.6f,\"totals\":", Elapsed());
  std::lock_guard lock(mu_);
  Event(t + TotalsJson(totals) + "}\n");
}

void Reporter::Problems(const ktsync::Problems& problems) {
  std::lock_guard lock(mu_);
  for (const Problem& p : problems.Snapshot()) {
    const char* kind = p.kind == ProblemKind::Vanished ? "vanished" : "error";
    if (opts_.json) {
      Event("{\"event\":\"error\",\"kind\":\"" + std::string(kind) + "\",\"path\":\"" + JsonEscape(p.path) + "\"" +
          PathHexField(p.path) + ",\"message\":\"" + JsonEscape(p.message) + "\"}\n");
    }
    std::string line = (p.kind == ProblemKind::Vanished ? "warning: " : "error: ") + TerminalSafe(p.message);
    Log(line);
    Terminal([&] { std::cerr << "ktsync: " << line << "\n" << std::flush; });
  }
}

void Reporter::Summary(const PlanTotals& totals, const RunStats& stats, int exit_code) {
  {
    std::lock_guard lock(mu_);
    Log(EndLogLine(totals, stats, dry_run_, exit_code));
    if (opts_.json) Event(SummaryJson(totals, stats, dry_run_, exit_code));
    std::cout << pending_ << std::flush;
    pending_.clear();
  }
  if (opts_.json) return;
  if (opts_.quiet) return;
  if (opts_.stats || opts_.verbose > 0) {
    StatsText(totals, stats, dry_run_);
  } else if (dry_run_) {
    std::cout << "\n" << TotalsText(totals) << std::flush;
  }
  if (!stats.deletes_refused.empty() && dry_run_) {  // what a real run says before changing anything
    std::cerr << "ktsync: refusing to mirror: " << TerminalSafe(stats.deletes_refused) << "\n";
  } else if (!stats.deletes_refused.empty()) {  // SRC changed after the real run's own dry run
    std::cerr << "ktsync: deletions were refused: " << TerminalSafe(stats.deletes_refused)
              << "; the other changes were made (review with --dry-run)\n";
  } else if (stats.deletes_skipped) {
    std::cerr << "ktsync: deletions were skipped because of the errors above "
                 "(fix them and rerun, or use --delete-on-error)\n";
  }
}

void Reporter::Error(const std::string& message, int exit_code) {
  std::lock_guard lock(mu_);
  Log("error: " + TerminalSafe(message) + " (exit code " + std::to_string(exit_code) + ")");
  if (opts_.json) {
    Event("{\"event\":\"error\",\"fatal\":true,\"exit_code\":" + std::to_string(exit_code) + ",\"message\":\"" +
        JsonEscape(message) + "\"}\n");
  }
  std::cout << pending_ << std::flush;
  pending_.clear();
  Terminal([&] { std::cerr << "ktsync: " << TerminalSafe(message) << "\n" << std::flush; });
}

}  // namespace ktsync
