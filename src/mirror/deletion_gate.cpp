#include "mirror/deletion_gate.h"

namespace ktsync {

DeletionDecision DecideDeletions(bool errors, uint64_t to_delete, uint64_t dst_entries, const DeleteLimits& limits) {
  DeletionDecision d;
  if (to_delete == 0) return d;
  if (errors && !limits.delete_on_error) {
    d.verdict = DeletionDecision::SkipErrors;
    return d;
  }
  if (limits.max_delete && to_delete > *limits.max_delete) {
    d.verdict = DeletionDecision::SkipLimit;
    d.message = std::to_string(to_delete) + " entries would be deleted, more than --max-delete " +
                std::to_string(*limits.max_delete);
    return d;
  }
  uint64_t base = dst_entries > 1 ? dst_entries - 1 : 0;
  if (limits.max_delete_percent && base > 0 &&
      100.0 * static_cast<double>(to_delete) / static_cast<double>(base) > *limits.max_delete_percent) {
    d.verdict = DeletionDecision::SkipLimit;
    d.message = std::to_string(to_delete) + " of " + std::to_string(base) +
                " entries in DST would be deleted, more than --max-delete-percent " +
                std::to_string(*limits.max_delete_percent);
  }
  return d;
}

}  // namespace ktsync
