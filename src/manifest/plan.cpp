// PlanMirror: one merge walk over both manifests (manifest/diff.h) that sorts each decision
// into its phase list, then concatenates the phases in the order plan.h documents.
//
// Directory metadata is decided when the walk leaves a directory's subtree: only then is it
// known whether a child was created, replaced or deleted (each of which bumps the directory's
// mtime, so the directory needs its DirMeta re-applied at the end even if it matched).
#include <optional>
#include <string_view>
#include <vector>

#include "manifest/diff.h"
#include "manifest/plan.h"

namespace ktsync {
namespace {

// True when `path` lies strictly inside directory `dir` ("" is the root).
bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' && path.starts_with(dir);
}

// Zero inode means the peer did not send local identity: never conclude "same file" from it.
bool SameInode(const Entry& a, const Entry& b) {
  return a.ino != 0 && a.dev == b.dev && a.ino == b.ino;
}

// A remote DST manifest has no inode numbers, but its owner marked each hard-link group.
int64_t LinkGroup(const Manifest& m, int64_t k) {
  return m[k].link_leader >= 0 ? m[k].link_leader : k;
}

class Planner {
 public:
  Planner(const Manifest& src, const Manifest& dst, const PlanOptions& opts)
      : src_(src), dst_(dst), opts_(opts) {
    if (opts.hard_links) {
      leader_dst_.assign(src.size(), -1);
      sent_.assign(src.size(), false);
    }
  }

  Plan Run() {
    MergeWalk(src_, dst_, [this](int64_t i, int64_t j) { Visit(i, j); });
    while (!open_dirs_.empty()) open_dirs_.pop_back();
    return Assemble();
  }

 private:
  struct OpenDir {
    std::string_view path;
    size_t slot;  // index into dirmeta_
  };

  void Visit(int64_t i, int64_t j) {
    std::string_view path = i >= 0 ? src_[i].path : dst_[j].path;
    while (!open_dirs_.empty() && !IsUnder(path, open_dirs_.back().path)) open_dirs_.pop_back();
    if (removing_) {
      if (IsUnder(path, *removing_)) {
        // Inside a DST directory that is being retyped: it must go whatever delete says.
        if (j >= 0) Add(remove_, ActionKind::RemoveForType, -1, j, 0);
        if (i >= 0) Create(i);  // only with a malformed SRC; apply will report it
        return;
      }
      removing_.reset();
    }
    if (skipped_) {
      if (IsUnder(path, *skipped_)) return;  // beneath a mount point SRC did not descend (-x)
      skipped_.reset();
    }
    if (path.empty()) return VisitRoot(i, j);
    if (i >= 0 && j >= 0) {
      if (src_[i].type == dst_[j].type) return VisitSameType(i, j);
      RemoveForType(j);
      TouchParent(path);
      Create(i);
    } else if (i >= 0) {
      TouchParent(path);
      Create(i);
    } else if (opts_.delete_extraneous) {
      Add(delete_, ActionKind::Delete, -1, j, 0);
      TouchParent(path);
    }
  }

  // The root is neither created nor deleted here; only its metadata is mirrored.
  void VisitRoot(int64_t i, int64_t j) {
    if (i < 0) return;
    OpenDirectory(i, j, j < 0 ? uint16_t{kChNew} : MetaBits(src_[i], dst_[j], opts_));
  }

  void VisitSameType(int64_t i, int64_t j) {
    const Entry& s = src_[i];
    const Entry& d = dst_[j];
    switch (s.type) {
      case EntryType::Dir:
        if (s.contents_skipped) skipped_ = s.path;
        return OpenDirectory(i, j, MetaBits(s, d, opts_));
      case EntryType::File:
        return IsLinkFollower(src_, i, opts_) ? PlanFollower(i, j) : PlanFile(i, j);
      case EntryType::Symlink:
        return PlanReplaceOrMeta(ActionKind::Symlink, i, j, s.link_target() != d.link_target(),
                                 kChTarget);
      case EntryType::CharDev:
      case EntryType::BlockDev:
        return PlanReplaceOrMeta(ActionKind::Special, i, j, s.rdev() != d.rdev(), 0);
      case EntryType::Fifo:
      case EntryType::Socket:
        return PlanReplaceOrMeta(ActionKind::Special, i, j, false, 0);
    }
  }

  void PlanFile(int64_t i, int64_t j) {
    if (opts_.hard_links) leader_dst_[i] = j;
    ContentDiff content = CompareFileContent(src_[i], dst_[j], opts_);
    uint16_t meta = MetaBits(src_[i], dst_[j], opts_);
    if (!content.same) {
      Send(i, j, content.bits | meta);
      TouchParent(src_[i].path);
    } else if (meta != 0) {
      Add(main_, ActionKind::MetaOnly, i, j, meta);
    }
  }

  // A -H follower shares its leader's inode, so its data and metadata come with the leader.
  // It is left alone when DST already has it linked to the DST file at the leader's path and
  // that file is kept (a re-sent leader is a new inode, so the link must be redone).
  void PlanFollower(int64_t i, int64_t j) {
    int64_t leader = src_[i].link_leader;
    int64_t leader_dst = leader_dst_[leader];
    if (j >= 0 && leader_dst >= 0 && !sent_[leader] &&
        (SameInode(dst_[j], dst_[leader_dst]) ||
         (dst_[j].ino == 0 && LinkGroup(dst_, j) == LinkGroup(dst_, leader_dst)))) {
      return;
    }
    uint16_t changes = kChNew;
    if (j >= 0) {
      changes = MetaBits(src_[i], dst_[j], opts_);
      if (src_[i].size != dst_[j].size) changes |= kChSize;
    }
    Add(link_, ActionKind::HardLink, i, j, changes);
    TouchParent(src_[i].path);
  }

  void PlanReplaceOrMeta(ActionKind kind, int64_t i, int64_t j, bool differs, uint16_t why) {
    uint16_t meta = MetaBits(src_[i], dst_[j], opts_);
    if (differs) {
      Add(main_, kind, i, j, why | meta);
      TouchParent(src_[i].path);
    } else if (meta != 0) {
      Add(main_, ActionKind::MetaOnly, i, j, meta);
    }
  }

  // Creation of a SRC entry absent from DST (or whose DST entry is removed in phase 1).
  void Create(int64_t i) {
    switch (src_[i].type) {
      case EntryType::Dir:
        Add(mkdir_, ActionKind::MkDir, i, -1, kChNew);
        return OpenDirectory(i, -1, kChNew);
      case EntryType::File:
        if (IsLinkFollower(src_, i, opts_)) return PlanFollower(i, -1);
        return Send(i, -1, kChNew);
      case EntryType::Symlink:
        return Add(main_, ActionKind::Symlink, i, -1, kChNew);
      case EntryType::Fifo:
      case EntryType::Socket:
      case EntryType::CharDev:
      case EntryType::BlockDev:
        return Add(main_, ActionKind::Special, i, -1, kChNew);
    }
  }

  void Send(int64_t i, int64_t j, uint16_t changes) {
    Add(main_, ActionKind::SendFile, i, j, changes);
    if (opts_.hard_links) sent_[i] = true;
  }

  void RemoveForType(int64_t j) {
    Add(remove_, ActionKind::RemoveForType, -1, j, 0);
    if (dst_[j].IsDir()) removing_ = dst_[j].path;
  }

  void OpenDirectory(int64_t i, int64_t j, uint16_t changes) {
    open_dirs_.push_back({src_[i].path, dirmeta_.size()});
    Add(dirmeta_, ActionKind::DirMeta, i, j, changes);
    dirmeta_keep_.push_back(changes != 0);
  }

  // A created, replaced or deleted child changes its parent's mtime.
  void TouchParent(std::string_view child) {
    if (!open_dirs_.empty() && open_dirs_.back().path == ParentPath(child)) {
      dirmeta_keep_[open_dirs_.back().slot] = true;
    }
  }

  static void Add(std::vector<Action>& phase, ActionKind kind, int64_t i, int64_t j,
                  uint16_t changes) {
    phase.push_back(Action{kind, i, j, changes});
  }

  Plan Assemble() {
    Plan plan;
    auto& out = plan.actions;
    out.reserve(remove_.size() + mkdir_.size() + main_.size() + link_.size() + delete_.size() +
                dirmeta_.size());
    out.insert(out.end(), remove_.rbegin(), remove_.rend());  // deepest first
    out.insert(out.end(), mkdir_.begin(), mkdir_.end());      // parents first
    out.insert(out.end(), main_.begin(), main_.end());
    out.insert(out.end(), link_.begin(), link_.end());
    out.insert(out.end(), delete_.rbegin(), delete_.rend());  // deepest first
    for (size_t k = dirmeta_.size(); k-- > 0;) {              // deepest first
      if (dirmeta_keep_[k]) out.push_back(dirmeta_[k]);
    }
    plan.totals = Totals(out);
    return plan;
  }

  PlanTotals Totals(const std::vector<Action>& actions) const {
    PlanTotals t;
    for (const Action& a : actions) {
      switch (a.kind) {
        case ActionKind::SendFile:
          ++t.files_to_send;
          t.bytes_to_send += src_[a.src].size;
          break;
        case ActionKind::Delete:
        case ActionKind::RemoveForType:
          ++t.to_delete;
          break;
        case ActionKind::MetaOnly:
          ++t.meta_only;
          break;
        case ActionKind::DirMeta:
          if (a.changes != 0 && !(a.changes & kChNew)) ++t.meta_only;
          break;
        case ActionKind::MkDir:
        case ActionKind::Symlink:
        case ActionKind::Special:
        case ActionKind::HardLink:
          ++t.created_other;
          break;
      }
    }
    return t;
  }

  const Manifest& src_;
  const Manifest& dst_;
  const PlanOptions& opts_;
  std::vector<Action> remove_, mkdir_, main_, link_, delete_, dirmeta_;
  std::vector<bool> dirmeta_keep_;  // parallel to dirmeta_
  std::vector<OpenDir> open_dirs_;  // SRC directories enclosing the current path
  std::optional<std::string_view> removing_;
  std::optional<std::string_view> skipped_;  // a SRC dir whose contents were not scanned  // DST directory being removed for a retype
  // -H bookkeeping, indexed by SRC entry: the DST file at the same path, and whether the
  // entry is (re)sent as a new inode.
  std::vector<int64_t> leader_dst_;
  std::vector<bool> sent_;
};

}  // namespace

Plan PlanMirror(const Manifest& src, const Manifest& dst, const PlanOptions& opts) {
  return Planner(src, dst, opts).Run();
}

}  // namespace ktsync
