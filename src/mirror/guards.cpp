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

void CheckSourceNotEmpty(uint64_t src_entries, uint64_t dst_entries, bool src_root_partial,
                         const std::string& src_name, const std::string& dst_name) {
  if (src_entries > 1 || dst_entries <= 1 || src_root_partial) return;
  throw Error(ExitCode::UnsafeSource,
              "refusing to mirror: SRC " + src_name + " is empty but DST " + dst_name + " has " +
                  std::to_string(dst_entries - 1) +
                  " entries that would all be deleted (is SRC the right path, and mounted?); "
                  "if you really want DST emptied, empty it yourself");
}

bool MustCompareFirst(const MirrorSpec& spec, bool mirrored_before) {
  const DeleteLimits& d = spec.deletes;
  return !spec.dry_run && spec.plan.delete_extraneous && !d.force_delete && !d.compared_first && !mirrored_before;
}

Error CompareFirstError(const std::string& dst_name) {
  return Error(ExitCode::CompareFirst, "ktsync has never mirrored into DST " + dst_name +
                                           ", so the client must first compare the trees (a dry run); a client "
                                           "that stops with this message predates that: upgrade it, or pass "
                                           "--force-delete or --no-delete");
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
