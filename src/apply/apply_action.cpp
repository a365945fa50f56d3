#include "apply/apply_action.h"

#include "apply/temp_name.h"
#include "util/error.h"

namespace ktsync {

void ApplyAction(const Action& a, DestTree& tree, const ApplyOptions& opts) {
  const Entry& e = a.entry;
  switch (a.kind) {
    case ActionKind::RemoveForType:
    case ActionKind::Delete:
      return tree.Remove(e);
    case ActionKind::MkDir:
      tree.MkDir(e);
      if (opts.fsync) tree.SyncParent(e.path);  // files fsync'ed in it need it to exist
      return;
    case ActionKind::MetaOnly:
      return tree.SetMeta(e, opts.meta);
    case ActionKind::Symlink:
      return tree.MakeSymlink(e, opts.meta);
    case ActionKind::Special:
      return tree.MakeSpecial(e, opts.meta);
    case ActionKind::HardLink:
      if (a.leader.empty() || a.leader == e.path) throw Error(ExitCode::FileIo, e.path + ": hard link without a leader");
      return tree.HardLink(e, a.leader);
    case ActionKind::DirMeta:
      return tree.SetMeta(e, opts.meta, /*created=*/!a.replaces);
    case ActionKind::SendFile:
      break;
  }
  throw Error(ExitCode::FileIo, e.path + ": not a change ApplyAction makes");
}

size_t RemoveStaleTemps(DestTree& tree, const std::vector<std::string>& rel_paths) {
  size_t removed = 0;
  for (const std::string& rel : rel_paths) {
    if (!IsSafeRelativePath(rel) || rel.empty() || !IsTempName(BaseName(rel))) continue;
    try {
      tree.RemoveLeftover(rel);
      ++removed;
    } catch (const Error&) {
      // Best effort: a temp we cannot remove is skipped by every scan and harms nothing.
    }
  }
  return removed;
}

}  // namespace ktsync
