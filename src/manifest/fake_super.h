// Fake super-user (serve --fake-super, as rsync's): a daemon running as an ordinary user
// keeps what only root could set — owner, group, setuid/setgid bits, and the type and
// number of devices, FIFOs and sockets — in one extended attribute of each entry, and
// presents it again when it lists the tree. A backup server then holds every file's real
// metadata without privileges, and a pull restores it exactly.
//
// On disk an entry is a plain file, directory or symlink the daemon's user owns: devices,
// FIFOs and sockets are empty regular files, permission bits lose setuid/setgid and always
// let the owner read and write. Symlinks cannot carry user.* attributes on Linux, so their
// owners are not kept (planned without them, warned of once per run).
//
// Pure: the attribute's value to and from an Entry.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "manifest/entry.h"

namespace ktsync {

inline constexpr char kFakeSuperXattr[] = "user.ktsync.stat";

// "<type> <mode, octal> <uid>:<gid>[ <rdev>]" (type as EntryType's number; rdev for devices).
std::string EncodeFakeStat(const Entry& logical);

// Makes a scanned entry the one its stored value describes. False, changing nothing, for
// a malformed value or one that contradicts what is on disk (a directory claiming to be a
// file, a device whose stand-in has content).
bool ApplyFakeStat(std::string_view value, Entry& e);

// What a logical entry is on disk: its type (a regular file for devices, FIFOs, sockets) and
// permission bits.
EntryType PhysicalType(EntryType logical);
uint32_t PhysicalMode(const Entry& logical);

// Removes the attribute from a list (it is never mirrored as an attribute).
void StripFakeStat(Xattrs& xs);
void StripFakeStat(Entry& e);

}  // namespace ktsync
