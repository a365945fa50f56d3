#include "transfer/plan_check.h"

#include <string>

#include "transfer/byte_io.h"

namespace ktsync {
namespace {

const Entry* At(const Manifest& m, int64_t i) {
  return i >= 0 && static_cast<size_t>(i) < m.size() ? &m[static_cast<size_t>(i)] : nullptr;
}

bool IsSpecial(EntryType t) {
  return t == EntryType::Fifo || t == EntryType::Socket || t == EntryType::CharDev || t == EntryType::BlockDev;
}

// Why `a` is not acceptable ("" when it is).
std::string Problem(const Action& a, const Manifest& src, const Manifest& dst) {
  const Entry* s = At(src, a.src);
  const Entry* d = At(dst, a.dst);
  if (a.src >= 0 && !s) return "source index out of range";
  if (a.dst >= 0 && !d) return "destination index out of range";
  if (s && d && s->path != d->path) return "source and destination entries have different paths";
  switch (a.kind) {
    case ActionKind::RemoveForType:
    case ActionKind::Delete:
      if (!d || s) return "deletion must name only a destination entry";
      if (d->path.empty()) return "the root cannot be deleted";
      return "";
    case ActionKind::MkDir:
      return s && s->IsDir() && !d && !s->path.empty() ? "" : "mkdir needs a new source directory";
    case ActionKind::SendFile:
      return s && s->IsFile() && (!d || d->IsFile()) ? "" : "file transfer needs a regular source file";
    case ActionKind::MetaOnly:
      return s && d && s->type == d->type ? "" : "metadata update needs entries of the same type";
    case ActionKind::Symlink:
      return s && s->type == EntryType::Symlink && (!d || d->type == EntryType::Symlink)
                 ? ""
                 : "symlink action needs a source symlink";
    case ActionKind::Special:
      return s && IsSpecial(s->type) && (!d || IsSpecial(d->type)) ? "" : "special-file action needs a special file";
    case ActionKind::HardLink: {
      if (!s || !s->IsFile() || s->link_leader < 0) return "hard link needs a source file with a link leader";
      const Entry* leader = At(src, s->link_leader);
      return leader && leader->IsFile() ? "" : "hard link leader is not a regular file in the plan";
    }
    case ActionKind::DirMeta:
      return s && s->IsDir() && (!d || d->IsDir()) ? "" : "directory metadata needs a source directory";
  }
  return "unknown action";
}

}  // namespace

void CheckReceivedPlan(const Plan& plan, const Manifest& src, const Manifest& dst) {
  for (size_t i = 0; i < plan.actions.size(); ++i) {
    std::string why = Problem(plan.actions[i], src, dst);
    if (!why.empty()) ThrowProtocolError("plan action #" + std::to_string(i) + ": " + why);
  }
}

}  // namespace ktsync
