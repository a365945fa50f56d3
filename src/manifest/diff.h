// Diff primitives shared by PlanMirror and ListHashNeeds: the one-pass merge of two
// path-ordered manifests, and the per-pair comparisons (content, metadata).
//
// MergeWalk refuses input that is not strictly in path order (or whose first entry is not the
// root): a duplicated or misordered path from a hostile or buggy peer would otherwise pair the
// wrong entries and plan deletions of files that exist in the source.
#pragma once

#include <cstdint>

#include "manifest/entry.h"
#include "manifest/plan.h"

namespace ktsync {

// Throws Error(StreamData) naming the offending path unless `m` is strictly in path order
// with the root ("") first. An empty manifest is accepted.
void CheckPathOrder(const Manifest& m, const char* side);

// Calls visit(i, j) for every path in src ∪ dst, in path order: i indexes src, j indexes dst,
// -1 on the side where the path is absent. Checks path order of both sides first.
template <class Visit>
void MergeWalk(const Manifest& src, const Manifest& dst, Visit&& visit) {
  CheckPathOrder(src, "source");
  CheckPathOrder(dst, "destination");
  size_t i = 0, j = 0;
  while (i < src.size() || j < dst.size()) {
    int c = i == src.size()   ? 1
            : j == dst.size() ? -1
                              : ComparePaths(src[i].path, dst[j].path);
    if (c < 0) {
      visit(static_cast<int64_t>(i++), int64_t{-1});
    } else if (c > 0) {
      visit(int64_t{-1}, static_cast<int64_t>(j++));
    } else {
      visit(static_cast<int64_t>(i++), static_cast<int64_t>(j++));
    }
  }
}

// |a - b| <= tolerance, without overflow for any int64 inputs.
bool MtimeEqual(int64_t a, int64_t b, int64_t tolerance_ns);

// True when a same-path pair of regular files can only be judged by content hashes: equal
// size and (--checksum or differing mtime).
bool PairNeedsHash(const Entry& s, const Entry& d, const PlanOptions& opts);

// Metadata bits (kChMtime/kChPerms/kChOwner/kChGroup) that differ and that `opts` mirrors.
// Symlink permissions are never compared: Linux cannot change them.
uint16_t MetaBits(const Entry& s, const Entry& d, const PlanOptions& opts);

struct ContentDiff {
  bool same = false;
  uint16_t bits = 0;  // kChSize and/or kChChecksum when content differs
};

// Content comparison of two regular files at the same path. A pair that needed hashes and
// lacks one on either side is different: never assumed equal.
ContentDiff CompareFileContent(const Entry& s, const Entry& d, const PlanOptions& opts);

// True when src entry `i` is a hard-link follower that -H handles by linking, not sending.
// A link_leader that does not point at an earlier regular file is ignored (hostile input).
bool IsLinkFollower(const Manifest& src, int64_t i, const PlanOptions& opts);

}  // namespace ktsync
