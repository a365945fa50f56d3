// --chmod: rsync's permission rules ("Dg+s,ug+w,Fo-w,+X", "F644"), parsed once on the client
// and applied to each SRC entry's mode on the destination side before it is planned, so
// DST gets (and a dry run shows) the changed mode. Pure: no filesystem.
//
// Semantics are rsync's (chmod.c), rule by rule in order: a D or F prefix limits a rule to
// directories or to everything else; who is [ugoa]* (none: all, less the umask, as
// chmod(1)); op is + - =; perms are [rwxXst]* (X: execute only for directories and for
// entries some execute bit was set on before any rule); or an octal mode sets every bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ktsync {

struct ChmodRule {
  static constexpr uint8_t kDirsOnly = 1, kFilesOnly = 2, kExecIfAny = 4;  // D, F, X
  static constexpr uint8_t kAllFlags = 7;
  uint8_t flags = 0;
  uint16_t keep = 07777;  // mode &= keep, then mode |= add
  uint16_t add = 0;
  bool operator==(const ChmodRule&) const = default;
};
using ChmodRules = std::vector<ChmodRule>;

inline constexpr size_t kMaxChmodRules = 64;

// Throws Error(Usage) naming `text` when it is not rsync --chmod syntax. `umask` applies
// to rules without who (u, g, o, a), as in rsync.
ChmodRules ParseChmod(const std::string& text, uint32_t umask);

// The permission bits (07777) an entry with `mode` gets; `dir`: it is a directory.
uint32_t ApplyChmod(const ChmodRules& rules, uint32_t mode, bool dir);

}  // namespace ktsync
