// EnsureHashes: give the chosen manifest entries their content hash, from the cache when it
// is still valid, else by reading the file (and caching the result).
//
// The file is opened beneath the root without following symlinks (with follow_links, -L on
// SRC, through them: the scan listed the referent) and must still be the
// file the scan saw (same dev/ino/size/mtime, and unchanged while it was read); otherwise it
// is reported as vanished ("changed during scan") and left without a hash, so no decision is
// ever made on a hash of content the manifest does not describe.
#pragma once

#include <cstdint>
#include <vector>

#include "manifest/entry.h"
#include "store/hash_store.h"
#include "util/problems.h"
#include "util/transfer_meter.h"

namespace ktsync {

// For each entry that is a regular file without a hash: sets Entry::hash (paths are beneath
// root_dirfd). Counts CountHashed() for every file actually read; `meter` (optional) gets
// the bytes to read and, as they are read, the bytes read (a file that cannot be read
// counts as read, so the two meet at the end).
void EnsureHashes(int root_dirfd, const std::vector<Entry*>& entries, HashStore& store, Problems& problems,
                  TransferMeter* meter = nullptr, bool follow_links = false);

}  // namespace ktsync
