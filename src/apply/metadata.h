// Applying an Entry's owner, extended attributes, mode and mtime to something already opened
// or held.
//
// Order is fixed: owner first (chown clears setuid/setgid bits and security.capability),
// then extended attributes and ACLs, then mode, then mtime last (nothing after it may touch
// the inode); with fake_super the mode goes first (not root, setting attributes takes write
// permission). Everything works on fds or on (parent fd, basename) with AT_SYMLINK_NOFOLLOW:
// never a path walked from the cwd.
#pragma once

#include <cstdint>
#include <string_view>

#include "manifest/entry.h"

namespace ktsync {

struct MetaOptions {
  bool perms = true;
  bool times = true;
  bool owner = false;
  bool group = false;
  // Extended attribute classes made equal to the entry's (names of other classes are left
  // alone). Where DST's filesystem refuses a class, the entry is noted here, not failed.
  uint8_t xattrs = 0;
  XattrLosses* unsupported_xattrs = nullptr;
  // serve --fake-super (fake_super.h): owner, group and the full mode go into the
  // user.ktsync.stat attribute; the inode keeps our owner and PhysicalMode.
  bool fake_super = false;
};

// `fd` may be a normal fd or an O_PATH fd (used for nodes we cannot or must not open for
// I/O: mode-000 files as non-root, devices, fifos). `rel` names the entry in errors.
// Owner and permission bits the file already has are not set again. `bare`: the file is
// known to have no extended attributes (new, nothing inherited), so they are not read
// first. Throws SysError.
void ApplyMetaToFd(int fd, const Entry& e, const MetaOptions& opts, std::string_view rel, bool bare = false);

// Whether a file created in directory `dir_fd` may start with extended attributes: an
// access ACL from the directory's default ACL, or a security module's label.
bool NewFilesMayGetXattrs(int dir_fd);

// Symlinks: owner and mtime of the link itself (Linux has no symlink modes).
void ApplyMetaToLink(int parent_fd, const char* base, const Entry& e, const MetaOptions& opts,
                     std::string_view rel);

// Sets only the mode bits; handles O_PATH fds like ApplyMetaToFd.
void ChmodFd(int fd, uint32_t mode, std::string_view rel);

// The extended attribute classes this process may set: all as root, else user.* and ACLs.
uint8_t WritableXattrClasses();

// Without --perms a new entry gets the source mode masked by this process's umask, as rsync
// does. Read once from /proc/self/status (umask() itself would race other threads).
uint32_t ProcessUmask();

}  // namespace ktsync
