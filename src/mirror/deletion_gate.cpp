#include "mirror/deletion_gate.h"

namespace ktsync {
namespace {

// Said of either --max-delete limit: rsync copies and skips the deletions, which surprises
// those who expect a limit to stop the run it guards.
constexpr const char* kLimitAdvice =
    " (rsync would copy and skip the deletions; ktsync refuses the whole run): review with --dry-run, then raise "
    "the limit, or copy without deleting with 'ktsync copy'";

DeletionDecision Refuse(std::string message) { return {DeletionDecision::SkipLimit, std::move(message)}; }

bool IsFirstMirrorRisk(uint64_t to_delete, uint64_t base) {
  return base > 0 && to_delete > kFirstMirrorHandful && to_delete * 100 > base * kFirstMirrorShare;
}

std::string FirstMirrorMessage(uint64_t to_delete, uint64_t base, const std::string& name) {
  return std::to_string(to_delete) + " of the " + std::to_string(base) + " entries in DST " + name + " (" +
         std::to_string(to_delete * 100 / base) +
         "%) would be deleted, and ktsync has never mirrored into it (is DST the right path?): if it is, add "
         "--force-delete; to copy without deleting, use 'ktsync copy' or --no-delete";
}

}  // namespace

DeletionDecision DecideDeletions(bool errors, uint64_t to_delete, const DestFacts& dst, const DeleteLimits& limits) {
  if (to_delete == 0) return {};
  if (errors && !limits.delete_on_error) return {DeletionDecision::SkipErrors, ""};
  if (limits.max_delete && to_delete > *limits.max_delete)
    return Refuse(std::to_string(to_delete) + " entries would be deleted, more than --max-delete " +
                  std::to_string(*limits.max_delete) + kLimitAdvice);
  uint64_t base = dst.entries > 1 ? dst.entries - 1 : 0;
  if (limits.max_delete_percent && base > 0 &&
      100.0 * static_cast<double>(to_delete) / static_cast<double>(base) > *limits.max_delete_percent)
    return Refuse(std::to_string(to_delete) + " of " + std::to_string(base) +
                  " entries in DST would be deleted, more than --max-delete-percent " +
                  std::to_string(*limits.max_delete_percent) + kLimitAdvice);
  if (!dst.mirrored_before && !limits.force_delete && IsFirstMirrorRisk(to_delete, base))
    return Refuse(FirstMirrorMessage(to_delete, base, dst.name));
  return {};
}

}  // namespace ktsync
