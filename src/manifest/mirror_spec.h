// MirrorSpec: what a mirror does, as both ends of a network run must agree on it. The command
// line is turned into one (cli/options.cpp), a client sends it in its Request, and every
// part of the pipeline takes its settings from it (mirror/run.cpp maps it, once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "manifest/chmod.h"
#include "manifest/filter.h"
#include "manifest/plan.h"

namespace ktsync {

// The first-mirror guard (issue 15: `ktsync mirror ~/project ~` must not empty a home
// directory; mirror/deletion_gate.h applies it). A tree ktsync has never mirrored into may
// be the wrong path: deleting a few leftovers from it is normal (an earlier rsync or cp
// copy), deleting most of it is not. Refused when more than kFirstMirrorHandful entries AND
// more than kFirstMirrorShare percent of DST's entries (besides the root) would go.
inline constexpr uint64_t kFirstMirrorHandful = 10;
inline constexpr uint64_t kFirstMirrorShare = 50;

struct DeleteLimits {
  bool delete_on_error = false;              // rsync's --ignore-errors
  std::optional<uint64_t> max_delete;        // --max-delete N
  std::optional<double> max_delete_percent;  // --max-delete-percent P (of DST's entries)
  bool force_delete = false;                 // --force-delete: no first-mirror guard (deletion_gate.h)
  // Set by the client for the real run after a dry run found no limit passed (mirror/run.h):
  // the side holding DST then need not ask for that comparison (ExitCode::CompareFirst).
  bool compared_first = false;
};

struct MirrorSpec {
  PlanOptions plan;
  std::vector<FilterRule> filters;  // merge files read; dir-merge rules kept (filter_rule.h)
  bool delete_excluded = false;     // rsync's --delete-excluded: unsided rules are sender-only
  bool one_file_system = true;
  bool dry_run = false;
  bool fsync = false;
  bool skip_changing_files = false;  // apply/source_read.h
  DeleteLimits deletes;
  // What DST gets instead of SRC's own, applied to each SRC entry where DST is planned.
  ChmodRules chmod;          // --chmod (no rules: SRC's modes)
  std::string chown_user;    // --chown USER:GROUP, names or numbers looked up at DST ("": SRC's)
  std::string chown_group;
  bool safe_links = false;   // --safe-links: symlinks that point out of the tree are left alone
  bool copy_links = false;   // -L: SRC's symlinks are listed and copied as their referents (scan.h)
};

}  // namespace ktsync
