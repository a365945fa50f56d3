#include "mirror/remote_stats.h"

#include <cmath>

namespace ktsync {
namespace {

uint64_t Get(const Stats& w, const char* key) {
  auto it = w.find(key);
  return it == w.end() ? 0 : it->second;
}

uint64_t Millis(double s) { return s > 0 ? static_cast<uint64_t>(std::llround(s * 1000)) : 0; }
double Seconds(uint64_t ms) { return static_cast<double>(ms) / 1000; }

}  // namespace

SessionReport ReportOf(const Problem& p) {
  return {p.kind == ProblemKind::Vanished ? SessionReport::Vanished : SessionReport::Failed, p.path, p.message};
}

uint64_t RecordPeerReports(const PeerEnd& end, TreeRole peer_role, const std::string& peer, Problems* problems,
                           RunObserver& observer, RunStats& stats) {
  uint64_t count = end.reports_dropped;
  for (const SessionReport& r : end.reports) {
    if (r.kind == SessionReport::Note) {
      std::string& encryption = peer_role == TreeRole::Source ? stats.encryption_send : stats.encryption_recv;
      if (r.key == "encryption") encryption = r.message + " (remote)";
      if (r.key == "deletes_refused") stats.deletes_refused = r.message;
      if (r.key == "warning") observer.Warn(peer + ": " + r.message);
      continue;
    }
    ++count;
    if (problems) {
      problems->Add({r.kind == SessionReport::Vanished ? ProblemKind::Vanished : ProblemKind::Failed, r.key,
                     peer + ": " + r.message});
    }
  }
  if (problems && end.reports_dropped > 0)
    problems->Fail("", peer + ": " + std::to_string(end.reports_dropped) + " more problems were not listed");
  return count;
}

Stats SourceStatsToWire(const RunStats& s) {
  return {{"entries", s.src_entries},       {"file_bytes", s.src_file_bytes}, {"hashed", s.hashed_src},
          {"cache_hits", s.cache_hits_src}, {"files_sent", s.files_sent},     {"bytes_sent", s.bytes_sent},
          {"wire_bytes", s.wire_bytes}};
}

void SourceStatsFromWire(const Stats& w, RunStats& s) {
  s.hashed_src = Get(w, "hashed");
  s.cache_hits_src = Get(w, "cache_hits");
}

Stats DestStatsToWire(const RunStats& s, const PlanTotals& t) {
  return {{"entries", s.dst_entries},
          {"src_entries", s.src_entries},
          {"hashed", s.hashed_dst},
          {"cache_hits", s.cache_hits_dst},
          {"files_sent", s.files_sent},
          {"bytes_sent", s.bytes_sent},
          {"wire_bytes", s.wire_bytes},
          {"deleted", s.deleted},
          {"meta_fixed", s.meta_fixed},
          {"created_other", s.created_other},
          {"deletes_skipped", s.deletes_skipped ? 1u : 0u},
          {"plan_files", t.files_to_send},
          {"plan_bytes", t.bytes_to_send},
          {"plan_delete", t.to_delete},
          {"plan_meta", t.meta_only},
          {"plan_other", t.created_other},
          {"scan_ms", Millis(s.scan_s)},
          {"hash_ms", Millis(s.hash_s)},
          {"plan_ms", Millis(s.plan_s)},
          {"transfer_ms", Millis(s.transfer_s)},
          {"finish_ms", Millis(s.finish_s)}};
}

Stats WithoutDestinationCounts(Stats s) {
  for (std::string_view key : {"entries", "hashed", "cache_hits", "deleted", "meta_fixed", "created_other",
                               "deletes_skipped", "plan_delete", "plan_meta", "plan_other", "scan_ms", "hash_ms",
                               "plan_ms"})
    if (auto it = s.find(key); it != s.end()) s.erase(it);
  return s;
}

void DestStatsFromWire(const Stats& w, RunStats& s, PlanTotals& t) {
  s.dst_entries = Get(w, "entries");
  s.hashed_dst = Get(w, "hashed");
  s.cache_hits_dst = Get(w, "cache_hits");
  s.files_sent = Get(w, "files_sent");
  s.bytes_sent = Get(w, "bytes_sent");
  s.wire_bytes = Get(w, "wire_bytes");
  s.deleted = Get(w, "deleted");
  s.meta_fixed = Get(w, "meta_fixed");
  s.created_other = Get(w, "created_other");
  s.deletes_skipped = Get(w, "deletes_skipped") != 0;
  t.files_to_send = Get(w, "plan_files");
  t.bytes_to_send = Get(w, "plan_bytes");
  t.to_delete = Get(w, "plan_delete");
  t.meta_only = Get(w, "plan_meta");
  t.created_other = Get(w, "plan_other");
  s.scan_s = Seconds(Get(w, "scan_ms"));
  s.hash_s = Seconds(Get(w, "hash_ms"));
  s.plan_s = Seconds(Get(w, "plan_ms"));
  s.transfer_s = Seconds(Get(w, "transfer_ms"));
  s.finish_s = Seconds(Get(w, "finish_ms"));
}

}  // namespace ktsync
