// Diff and plan: pure functions from two manifests (source and destination, both in path
// order) to the list of actions that makes the destination identical to the source.
// No filesystem, no sockets: the local mirror, the network receiver and --dry-run all run
// the very same Plan, so what a dry-run prints is what a real run does.
//
// Execution order is the order of Plan::actions, grouped in phases:
//   1. RemoveForType  entries in DST whose type differs from SRC (deepest first)
//   2. MkDir          new directories (parents first)
//   3. SendFile, MetaOnly, Symlink, Special   (path order)
//   4. HardLink       after every leader exists
//   5. Delete         extraneous entries, deepest first (skipped after any error)
//   6. DirMeta        directory mode/owner/mtime, deepest first, so later phases
//                     cannot disturb a parent's mtime
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "manifest/entry.h"

namespace ktsync {

enum class ActionKind : uint8_t {
  RemoveForType = 1,  // dst: remove entry whose type changes (part of a replace, not a delete)
  MkDir = 2,          // src: create directory
  SendFile = 3,       // src (+dst if replacing): whole-file transfer
  MetaOnly = 4,       // src+dst: same content, fix mode/owner/mtime without copying data
  Symlink = 5,        // src (+dst): create or replace a symlink
  Special = 6,        // src (+dst): fifo, socket or device node
  HardLink = 7,       // src: link src path to the path of src entry link_leader
  Delete = 8,         // dst: extraneous entry
  DirMeta = 9,        // src+dst: set directory metadata
};

// What differs, for itemize output and stats (bit set).
enum ChangeBits : uint16_t {
  kChNew = 1 << 0,       // entry does not exist in DST (or is being retyped)
  kChChecksum = 1 << 1,  // content hash differs (--checksum)
  kChSize = 1 << 2,
  kChMtime = 1 << 3,
  kChPerms = 1 << 4,
  kChOwner = 1 << 5,
  kChGroup = 1 << 6,
  kChTarget = 1 << 7,    // symlink target differs
};

struct Action {
  ActionKind kind;
  int64_t src = -1;  // index into the source manifest, or -1
  int64_t dst = -1;  // index into the destination manifest, or -1
  uint16_t changes = 0;
  bool operator==(const Action&) const = default;
};

struct PlanOptions {
  bool checksum = false;      // compare content hashes instead of size+mtime
  bool delete_extraneous = true;
  bool hard_links = false;    // -H: src link_leader is honoured
  bool owner = false;         // mirror uid (root or --owner)
  bool group = false;         // mirror gid
  bool times = true;          // mirror mtimes
  bool perms = true;
  int64_t mtime_tolerance_ns = 0;  // --modify-window
};

struct PlanTotals {
  uint64_t files_to_send = 0;
  uint64_t bytes_to_send = 0;
  uint64_t to_delete = 0;        // Delete + RemoveForType entries
  uint64_t meta_only = 0;        // MetaOnly + DirMeta
  uint64_t created_other = 0;    // MkDir, Symlink, Special, HardLink
};

struct Plan {
  std::vector<Action> actions;
  PlanTotals totals;
};

// A file pair whose sameness needs content hashes (size equal but mtime differs, or
// --checksum). The caller fills Entry::hash on both sides (cache or compute, locally or by
// one batched request to the peer) and then calls PlanMirror.
struct HashNeeds {
  std::vector<int64_t> src;  // indices into the source manifest lacking a hash
  std::vector<int64_t> dst;  // indices into the destination manifest lacking a hash
};

HashNeeds ListHashNeeds(const Manifest& src, const Manifest& dst, const PlanOptions& opts);

// Both manifests must be in path order with the root at index 0. A pair that needed a
// hash and still lacks one is treated as different (sent whole): never assumed equal.
Plan PlanMirror(const Manifest& src, const Manifest& dst, const PlanOptions& opts);

}  // namespace ktsync
