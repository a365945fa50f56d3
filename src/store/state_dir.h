// Where ktsync keeps per-tree state (the hash cache and the destination lock).
//
// The state never lives inside a mirrored tree unless the user points --state-dir there:
// the default is $XDG_STATE_HOME/ktsync ($HOME/.local/state/ktsync when XDG_STATE_HOME is
// unset, empty or relative, as the XDG spec says). Each tree root gets
// <state>/roots/<xxh3-64 hex of its canonical path>.sqlite, plus "<db>.lock" next to it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace ktsync {

// Pure: the default state dir for these environment values ("" when neither is usable).
std::string DefaultStateDirFrom(const char* xdg_state_home, const char* home);

// The default from the real environment (falls back to the passwd entry when HOME is unset).
std::string DefaultStateDir();

// `override_dir` when non-empty, else DefaultStateDir().
std::string ResolveStateDir(const std::string& override_dir);

// realpath(root), or `root` unchanged when it cannot be resolved (e.g. not created yet).
std::string CanonicalRoot(const std::string& root);
// Like CanonicalRoot, for a path that may not exist yet: its parent is resolved instead.
std::string CanonicalPathOf(const std::string& path);

// Pure: "<state_dir>/roots/<16 hex digits>.sqlite" for an already canonical root path.
std::string DbPathFor(const std::string& state_dir, const std::string& canonical_root);

// mkdir -p with `mode` for the directories it creates. Throws SysError naming the path.
void MakeDirs(const std::string& path, mode_t mode);

// Creates `state_dir`/roots (mode 0700) as MakeDirs does, then checks that both belong to
// this user and that no one else may write them: whoever can replace a hash cache can make
// a run skip changed files. Unsafe: Error(SelectFiles) saying how to fix it (the run must
// stop); mkdir failures: SysError as MakeDirs.
void MakeStateDirs(const std::string& state_dir);
// That check alone, on existing directories (`ktsync state`, which creates nothing).
void CheckStateDirs(const std::string& state_dir);

struct FileId {
  uint64_t dev = 0;
  uint64_t ino = 0;
  bool operator==(const FileId&) const = default;
};

// (dev, ino) of the resolved state dir, so a scanner can skip it when the user placed it
// inside a tree; nullopt when it does not exist (yet).
std::optional<FileId> StateDirId(const std::string& override_dir);

}  // namespace ktsync
