#include "manifest/diff.h"

#include <string>

#include "util/error.h"

namespace ktsync {

void CheckPathOrder(const Manifest& m, const char* side) {
  if (m.empty()) return;
  if (!m[0].path.empty()) {
    throw Error(ExitCode::StreamData, std::string(side) + " manifest does not start with the root "
                                          "entry (first path '" + m[0].path + "'): refusing to plan");
  }
  for (size_t k = 1; k < m.size(); ++k) {
    if (ComparePaths(m[k - 1].path, m[k].path) >= 0) {
      throw Error(ExitCode::StreamData, std::string(side) + " manifest is not in path order at '" +
                                            m[k].path + "' (after '" + m[k - 1].path +
                                            "'): refusing to plan");
    }
  }
}

bool MtimeEqual(int64_t a, int64_t b, int64_t tolerance_ns) {
  // Unsigned arithmetic: a - b overflows int64 for far-apart hostile values.
  uint64_t diff = a >= b ? static_cast<uint64_t>(a) - static_cast<uint64_t>(b)
                         : static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
  return tolerance_ns >= 0 && diff <= static_cast<uint64_t>(tolerance_ns);
}

bool PairNeedsHash(const Entry& s, const Entry& d, const PlanOptions& opts) {
  if (!s.IsFile() || !d.IsFile() || s.size != d.size) return false;
  return opts.checksum || !MtimeEqual(s.mtime_ns, d.mtime_ns, opts.mtime_tolerance_ns);
}

uint16_t MetaBits(const Entry& s, const Entry& d, const PlanOptions& opts) {
  uint16_t bits = 0;
  if (opts.times && !MtimeEqual(s.mtime_ns, d.mtime_ns, opts.mtime_tolerance_ns)) bits |= kChMtime;
  if (opts.perms && s.type != EntryType::Symlink && (s.mode & 07777) != (d.mode & 07777)) {
    bits |= kChPerms;
  }
  if (opts.owner && s.uid != d.uid) bits |= kChOwner;
  if (opts.group && s.gid != d.gid) bits |= kChGroup;
  return bits;
}

ContentDiff CompareFileContent(const Entry& s, const Entry& d, const PlanOptions& opts) {
  if (s.size != d.size) return {false, kChSize};
  if (!PairNeedsHash(s, d, opts)) return {true, 0};
  if (s.hash && d.hash && *s.hash == *d.hash) return {true, 0};
  // rsync shows 'c' only under --checksum; without it the differing mtime ('t') says why.
  return {false, static_cast<uint16_t>(opts.checksum ? kChChecksum : 0)};
}

bool IsLinkFollower(const Manifest& src, int64_t i, const PlanOptions& opts) {
  if (!opts.hard_links || !src[i].IsFile()) return false;
  int64_t leader = src[i].link_leader;
  return leader >= 0 && leader < i && src[leader].IsFile();
}

HashNeeds ListHashNeeds(const Manifest& src, const Manifest& dst, const PlanOptions& opts) {
  HashNeeds needs;
  MergeWalk(src, dst, [&](int64_t i, int64_t j) {
    if (i < 0 || j < 0) return;
    // A follower is linked to its leader, never compared by content.
    if (IsLinkFollower(src, i, opts)) return;
    if (!PairNeedsHash(src[i], dst[j], opts)) return;
    if (!src[i].hash) needs.src.push_back(i);
    if (!dst[j].hash) needs.dst.push_back(j);
  });
  return needs;
}

}  // namespace ktsync
