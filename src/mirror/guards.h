// Safety guards: pure checks that refuse a run *before* anything changes. Each throws
// ktsync::Error with its own exit code and a message saying what to do.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "manifest/plan.h"

namespace ktsync {

// An empty SRC mirrored onto a non-empty DST would delete everything: almost always a
// wrong path or an unmounted disk, so it is refused (exit 42).
void CheckSourceNotEmpty(const Manifest& src, const Manifest& dst, const std::string& src_name,
                         const std::string& dst_name);

// --max-delete N / --max-delete-percent P: refuse the whole run (exit 25) when the plan
// would delete more, so nothing is half-applied.
void CheckDeleteLimits(const Plan& plan, uint64_t dst_entries, std::optional<uint64_t> max_delete,
                       std::optional<double> max_delete_percent);

// Local runs: SRC and DST must not contain each other (canonical absolute paths).
void CheckNotNested(const std::string& src_abs, const std::string& dst_abs);

}  // namespace ktsync
