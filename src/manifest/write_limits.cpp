#include "manifest/write_limits.h"

#include <sys/stat.h>

namespace ktsync {

MirrorSpec LimitSpec(MirrorSpec spec, const WriteLimits& limits) {
  if (!limits.owners) spec.plan.owner = spec.plan.group = false;
  return spec;
}

uint8_t LimitXattrClasses(uint8_t writable, const WriteLimits& limits) {
  if (limits.setid) return writable;
  return writable & ~(kXattrSecurity | kXattrTrusted);
}

EntryVerdict LimitEntry(Entry& e, const WriteLimits& limits) {
  if (!limits.devices && (e.type == EntryType::CharDev || e.type == EntryType::BlockDev)) {
    return {EntryVerdict::Refused, e.path + ": device node not created: this daemon does not accept devices "
                                            "(its operator can allow them with serve --allow-devices)"};
  }
  // A setgid directory only makes new entries inherit its group: no privilege in it.
  constexpr uint32_t kSetid = S_ISUID | S_ISGID;
  if (!limits.setid && !e.IsDir() && (e.mode & kSetid) != 0) {
    e.mode &= ~kSetid;
    return {EntryVerdict::Trimmed, e.path + ": kept without its setuid/setgid bits: this daemon does not accept "
                                            "them (its operator can allow them with serve --allow-setid)"};
  }
  return {};
}

}  // namespace ktsync
