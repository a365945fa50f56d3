// Safety guards: pure checks that refuse a run *before* anything changes. Each throws
// ktsync::Error with its own exit code and a message saying what to do.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/mirror_spec.h"
#include "util/error.h"

namespace ktsync {

// An empty SRC mirrored onto a non-empty DST would delete everything: almost always a
// wrong path or an unmounted disk, so it is refused (exit 42). Counts include the root.
// The pipeline checks it when the SRC stream has ended: an empty SRC plans nothing but
// deletions, which wait for the end, so nothing has changed yet. A SRC root that took only
// some of its children (`src_root_partial`: --files-from without the root listed whole)
// deletes none of DST's others, so an empty one is nothing to do, as with rsync: no guard.
void CheckSourceNotEmpty(uint64_t src_entries, uint64_t dst_entries, bool src_root_partial,
                         const std::string& src_name, const std::string& dst_name);

// The first-mirror guard (deletion_gate.h) needs the plan's delete count before anything
// changes, which only a dry run of the whole mirror gives. True when a real run must have
// one first: it may delete, is not forced, was not compared yet, and ktsync never completed a
// mirror into DST. The caller (the side holding DST, once it is open) then checks that DST
// has entries and throws CompareFirstError; the client runs the dry run, then the real run
// again with compared_first (mirror/run.h).
bool MustCompareFirst(const MirrorSpec& spec, bool mirrored_before);
Error CompareFirstError(const std::string& dst_name);

// Local runs: SRC and DST must not contain each other (canonical absolute paths).
void CheckNotNested(const std::string& src_abs, const std::string& dst_abs);

}  // namespace ktsync
