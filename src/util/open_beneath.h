// OpenBeneath: open a relative path inside a tree without ever leaving it.
//
// A tree can change while ktsync works on it: any directory on the way may be swapped for a
// symlink to /etc between our scan and our open. So no symlink is followed, in any component
// (including the last), and ".." may not climb out of the root. On Linux >= 5.6 this is one
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); older kernels (ENOSYS) get an equivalent
// component-by-component walk with O_NOFOLLOW.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "util/unique_fd.h"

namespace ktsync {

// Opens `rel` ("" = the root itself) beneath `root_dirfd` with `flags` (O_CLOEXEC and
// O_NOFOLLOW are always added) and `mode` (used with O_CREAT/O_TMPFILE). On failure returns an
// invalid fd with errno set: ELOOP when a component is a symlink, EXDEV when ".." would
// leave the root, otherwise the open's own errno.
UniqueFd OpenBeneath(int root_dirfd, std::string_view rel, int flags, mode_t mode = 0);

// Opens a SRC path for reading. Without `follow_links`, OpenBeneath. With it (rsync's -L,
// which lists each symlink as its referent), every symlink on the way is followed,
// wherever it leads: the user asked for what the links point to. ".." is still refused
// (EXDEV): listed paths never hold one. Never for DST, whose writes stay beneath its root.
UniqueFd OpenSourcePath(int root_dirfd, std::string_view rel, int flags, bool follow_links);

// The fallback walk, exposed so tests exercise it on kernels that have openat2.
UniqueFd OpenBeneathByWalk(int root_dirfd, std::string_view rel, int flags, mode_t mode = 0);

}  // namespace ktsync
