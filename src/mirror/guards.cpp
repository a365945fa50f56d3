#include "mirror/guards.h"

#include "util/error.h"

namespace ktsync {
namespace {

bool IsWithin(const std::string& inner, const std::string& outer) {
  if (outer == "/") return true;
  return inner == outer || (inner.size() > outer.size() && inner.compare(0, outer.size(), outer) == 0 &&
                            inner[outer.size()] == '/');
}

}  // namespace

void CheckSourceNotEmpty(const Manifest& src, const Manifest& dst, const std::string& src_name,
                         const std::string& dst_name) {
  if (src.size() > 1 || dst.size() <= 1) return;
  throw Error(ExitCode::UnsafeSource,
              "refusing to mirror: SRC " + src_name + " is empty but DST " + dst_name + " has " +
                  std::to_string(dst.size() - 1) +
                  " entries that would all be deleted (is SRC the right path, and mounted?); "
                  "if you really want DST emptied, empty it yourself");
}

void CheckDeleteLimits(const Plan& plan, uint64_t dst_entries, std::optional<uint64_t> max_delete,
                       std::optional<double> max_delete_percent) {
  uint64_t n = plan.totals.to_delete;
  if (max_delete && n > *max_delete)
    throw Error(ExitCode::MaxDelete, "refusing to mirror: " + std::to_string(n) +
                                         " entries would be deleted, more than --max-delete " +
                                         std::to_string(*max_delete) +
                                         "; nothing was changed (review with --dry-run)");
  uint64_t base = dst_entries > 1 ? dst_entries - 1 : 0;  // the root is never deleted
  if (max_delete_percent && base > 0 && 100.0 * static_cast<double>(n) / static_cast<double>(base) > *max_delete_percent)
    throw Error(ExitCode::MaxDelete,
                "refusing to mirror: " + std::to_string(n) + " of " + std::to_string(base) +
                    " entries in DST would be deleted, more than --max-delete-percent " +
                    std::to_string(*max_delete_percent) + "; nothing was changed (review with --dry-run)");
}

void CheckNotNested(const std::string& src_abs, const std::string& dst_abs) {
  if (IsWithin(dst_abs, src_abs))
    throw Error(ExitCode::Usage, "DST " + dst_abs + " is inside SRC " + src_abs +
                                     ": the mirror would copy itself; choose a DST outside SRC");
  if (IsWithin(src_abs, dst_abs))
    throw Error(ExitCode::Usage, "SRC " + src_abs + " is inside DST " + dst_abs +
                                     ": mirroring would delete SRC's siblings and may destroy SRC; "
                                     "choose a DST that does not contain SRC");
}

}  // namespace ktsync
