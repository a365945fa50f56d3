// WriteLimits: what a destination lets the peer that sends SRC create. Without a daemon the
// account's own privileges decide, and nothing more is limited. A daemon's operator grants
// each power explicitly (serve --allow-devices, --allow-setid, --allow-owners): a root
// daemon that created what any secret holder sent would hand out local root — a
// world-writable /dev/mem, a setuid shell, a file with CAP_SYS_ADMIN.
//
// Pure decisions over values; the destination pipeline applies them to each SRC entry
// before it is planned, so a dry run shows exactly what a real run refuses.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/entry.h"
#include "manifest/mirror_spec.h"

namespace ktsync {

struct WriteLimits {
  bool devices = true;  // block and character device nodes
  bool setid = true;    // setuid/setgid bits on non-directories; security.* and trusted.* xattrs
  bool owners = true;   // owner and group as SRC has them (else: the daemon's user)

  bool limits_anything() const { return !devices || !setid || !owners; }
};

// The spec a limited destination runs: owners and groups dropped when they are not allowed.
MirrorSpec LimitSpec(MirrorSpec spec, const WriteLimits& limits);

// Of the xattr classes the account could write, those the limits leave.
uint8_t LimitXattrClasses(uint8_t writable, const WriteLimits& limits);

// One SRC entry against the limits. Refused: not created (a problem for that path);
// Trimmed: created without what the limits keep (a warning); `why` names the option that
// would allow it.
struct EntryVerdict {
  enum Kind { Allowed, Trimmed, Refused } kind = Allowed;
  std::string why;
};
EntryVerdict LimitEntry(Entry& e, const WriteLimits& limits);

}  // namespace ktsync
