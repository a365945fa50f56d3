// Planner: one pass over the merged pairs. Each decision is emitted as soon as it is known;
// a pair that needs content hashes holds back the Apply output after it (plan order), so
// the sink never sees a directory's DirMeta before a change to one of its children.
//
// Directory metadata is decided when the walk leaves a directory's subtree: only then is it
// known whether a child was created, replaced or deleted (each of which bumps the directory's
// mtime, so the directory needs its DirMeta re-applied at the end even if it matched). A
// child still undecided at that point settles it when it is resolved: the DirMeta waits
// behind it.
#include "manifest/plan.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "manifest/diff.h"
#include "util/error.h"

namespace ktsync {
namespace {

// True when `path` lies strictly inside directory `dir` ("" is the root).
bool IsUnder(std::string_view path, std::string_view dir) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' && path.starts_with(dir);
}

bool IsFollower(const Entry& s, const PlanOptions& opts) {
  return opts.hard_links && s.IsFile() && s.link_leader >= 0;
}

bool MayLead(const Entry& s, const PlanOptions& opts) {
  return opts.hard_links && s.IsFile() && s.link_leader < 0 && s.nlink > 1;
}

}  // namespace

bool IsDeletion(ActionKind k) { return k == ActionKind::Delete || k == ActionKind::RemoveForType; }

ItemView ViewOf(const Action& a) {
  ItemView v;
  v.kind = a.kind;
  v.changes = a.changes;
  v.type = a.entry.type;
  v.size = a.entry.size;
  if (!IsDeletion(a.kind)) v.mtime = a.entry.mtime.sec;
  v.path = a.entry.path;
  if (!IsDeletion(a.kind) && a.entry.type == EntryType::Symlink) v.target = a.entry.link_target();
  v.leader = a.leader;
  return v;
}

Planner::Planner(const PlanOptions& opts, PlanSink& sink, size_t max_leaders)
    : opts_(opts), sink_(sink), max_leaders_(max_leaders) {}

void Planner::Visit(EntryPair p) {
  if (p.src && !p.src_refused) {  // a refused entry is the destination's problem, not mirrored
    ++src_entries_;
    if (uint8_t lost = XattrClassesIn(p.src->xattrs()) & opts_.xattrs & ~opts_.xattrs_writable)
      unwritable_xattrs_.Add(lost, p.src->path);
  }
  if (p.dst && p.dst->protection == Entry::Protection::Hidden) {
    if (p.src) p.dst.reset();  // SRC's own rule files list it: as if DST's scan had not
  } else if (p.dst) {
    ++dst_entries_;
  }
  if (p.src) ReleaseExpiredLeaders(p.src_index);
  const std::string& path = p.src ? p.src->path : p.dst->path;
  if (retyping_) {
    if (IsUnder(path, *retyping_)) {
      // The merge guarantees SRC has nothing beneath a SRC non-directory.
      if (p.src) throw Error(ExitCode::StreamData, "source entry '" + path + "' lies beneath a non-directory");
      // Protected by the filter rules, it stays, and so the directory in SRC's way (its
      // removal then fails, as rsync's "could not make way" does).
      if (kept_ && IsUnder(path, *kept_)) return;
      if (p.dst->protection == Entry::Protection::Always || p.dst->protection == Entry::Protection::Hidden) {
        if (p.dst->IsDir()) kept_ = path;
        return;
      }
      Count(ActionKind::RemoveForType);
      sink_.Remove(Make(ActionKind::RemoveForType, *p.dst, -1, 0, true));
      return;
    }
    EndRetype();  // before Leave: the new entry's parent must still be open
  }
  Leave(path);
  if (skipped_) {
    if (IsUnder(path, *skipped_)) return;  // beneath a mount point SRC did not descend (-x)
    skipped_.reset();
  }
  if (kept_) {
    if (IsUnder(path, *kept_)) return;  // beneath a DST-only directory filter rules protect
    kept_.reset();
  }
  while (!deleting_.empty() && !IsUnder(path, deleting_.back().del.entry.path)) deleting_.pop_back();
  if (path.empty()) return VisitRoot(p);
  if (p.src && (p.src_refused || SkipsTransfer(*p.src, p.dst ? &*p.dst : nullptr, opts_))) {
    if (p.src->IsDir() || (p.dst && p.dst->IsDir())) skipped_ = path;  // with whatever DST has beneath it
    return;
  }
  if (p.src && p.dst) {
    if (p.src->type == p.dst->type) return VisitSameType(p);
    return StartRetype(p);
  }
  if (p.src) {
    Touch(ParentOf(path));
    return Create(std::move(*p.src), p.src_index);
  }
  if (!opts_.delete_extraneous || KeptByList(*p.dst)) return;
  if (KeptByFilter(*p.dst)) return KeepDeletedParents();
  if (DirState* parent = ParentOf(path)) {
    parent->keep = true;
    parent->deletes = true;
  }
  Count(ActionKind::Delete);
  Action del = Make(ActionKind::Delete, *p.dst, -1, 0, true);
  if (p.dst->IsDir()) deleting_.push_back({del, false});
  sink_.Delete(std::move(del));
}

// rsync's receiving-side rules ("protect"): a DST-only entry they exclude stays, a directory
// with everything in it; a perishable rule does not hold inside a directory being deleted.
bool Planner::KeptByFilter(const Entry& d) {
  bool kept = d.protection == Entry::Protection::Always || d.protection == Entry::Protection::Hidden ||
              (d.protection == Entry::Protection::UnlessParentDeleted && deleting_.empty()) ||
              (d.protection == Entry::Protection::WhenParentDeleted && !deleting_.empty());
  if (kept && d.IsDir()) kept_ = d.path;
  return kept;
}

// --files-from (file_list.h): in a directory SRC took only some children of, DST's others
// stay, each with everything in it, as rsync --delete leaves them.
bool Planner::KeptByList(const Entry& d) {
  if (!deleting_.empty()) return false;
  const DirState* parent = ParentOf(d.path);
  bool kept = parent != nullptr && parent->partial;
  if (kept && d.IsDir()) kept_ = d.path;
  return kept;
}

// A protected entry inside directories being deleted keeps them: decided here, not by a
// failing rmdir, so a dry run, its counts and the deletion gate see what the real run does.
// Deepest first; those further out were kept already when this one was.
void Planner::KeepDeletedParents() {
  for (auto it = deleting_.rbegin(); it != deleting_.rend() && !it->kept; ++it) {
    it->kept = true;
    --totals_.to_delete;
    sink_.Keep(it->del);
  }
}

void Planner::Leave(std::string_view path) {
  while (!open_dirs_.empty() && !IsUnder(path, open_dirs_.back().path)) CloseDir();
}

Planner::DirState* Planner::ParentOf(std::string_view child) {
  if (open_dirs_.empty() || open_dirs_.back().path != ParentPath(child)) return nullptr;
  return open_dirs_.back().state.get();
}

void Planner::Touch(DirState* parent) {
  if (parent) parent->keep = true;
}

void Planner::VisitRoot(EntryPair& p) {
  if (!p.src) return;
  OpenDirectory(*p.src, p.src_index, p.dst.has_value(), p.dst ? MetaBits(*p.src, *p.dst, opts_) : uint16_t{kChNew});
}

void Planner::VisitSameType(EntryPair& p) {
  const Entry& s = *p.src;
  const Entry& d = *p.dst;
  switch (s.type) {
    case EntryType::Dir:
      if (s.contents_skipped) skipped_ = s.path;
      return OpenDirectory(s, p.src_index, true, MetaBits(s, d, opts_));
    case EntryType::File:
      if (KnownFollower(*p.src, p.src_index)) return VisitFollower(std::move(*p.src), p.src_index, std::move(p.dst));
      return VisitFile(p);
    case EntryType::Symlink:
      return ReplaceOrMeta(p, ActionKind::Symlink, s.link_target() != d.link_target(), kChTarget);
    case EntryType::CharDev:
    case EntryType::BlockDev:
      return ReplaceOrMeta(p, ActionKind::Special, s.rdev() != d.rdev(), 0);
    case EntryType::Fifo:
    case EntryType::Socket:
      return ReplaceOrMeta(p, ActionKind::Special, false, 0);
  }
}

void Planner::VisitFile(EntryPair& p) {
  Entry& s = *p.src;
  Entry& d = *p.dst;
  if (!PairNeedsHash(s, d, opts_) || (s.hash && d.hash))
    return DecideFile(std::move(s), p.src_index, std::move(d), ParentState(s.path));
  RememberLeader(s, p.src_index, nullptr, /*undecided=*/true);
  Waiting w;
  w.kind = Waiting::Pair;
  w.parent = ParentState(s.path);
  w.src_index = p.src_index;
  w.src = std::move(s);
  w.dst = std::move(d);
  waiting_.push_back(std::move(w));
  if (pairs_waiting_++ == 0) oldest_undecided_ = p.src_index;
}

void Planner::DecideFile(Entry s, int64_t src_index, Entry d, const std::shared_ptr<DirState>& parent) {
  ContentDiff content = CompareFileContent(s, d, opts_);
  // Another SRC file keeps this DST inode: this name gets its own copy, or fixing either
  // one's metadata would change the other's.
  if (content.same && ClaimedByAnotherName(d)) content = {false, 0};
  uint16_t meta = MetaBits(s, d, opts_);
  RememberLeader(s, src_index, content.same ? &d : nullptr, false);
  if (!content.same) {
    PlanSend(Make(ActionKind::SendFile, s, src_index, content.bits | meta, true), parent);
  } else if (meta != 0) {
    Emit(Make(ActionKind::MetaOnly, s, src_index, meta, true));
  }
}

// A leader is held (plan.h): its other names may show that DST has its content already.
void Planner::PlanSend(Action send, const std::shared_ptr<DirState>& parent) {
  Touch(parent.get());
  auto it = MayLead(send.entry, opts_) ? leaders_.find(send.src_index) : leaders_.end();
  if (it == leaders_.end()) return Emit(std::move(send));
  Leader& l = it->second;
  held_leaders_.insert(send.src_index);
  l.held = std::move(send);
  HoldIn(l, parent);
}

void Planner::HoldIn(Leader& l, const std::shared_ptr<DirState>& dir) {
  if (!dir) return;
  ++dir->held_children;
  l.held_parents.push_back(dir);
}

// A follower's DST file can stand in for its held leader's data: the same content (by the
// quick check, or hashes already known), an inode identity, and no other name keeping it.
bool Planner::Adoptable(const Entry& s, const Entry& d) {
  if (d.ino == 0 || (PairNeedsHash(s, d, opts_) && !(s.hash && d.hash))) return false;
  return CompareFileContent(s, d, opts_).same && !ClaimedByAnotherName(d);
}

// Emits the held leader's SendFile, or `instead` of it (a link to a DST name that has its
// content), then the links that waited for it.
void Planner::ReleaseLeader(Leader& l, std::vector<Action> instead) {
  Action send = std::move(*l.held);
  l.held.reset();
  held_leaders_.erase(send.src_index);
  if (instead.empty()) Emit(std::move(send));
  for (Action& a : instead) Emit(std::move(a));
  for (Action& a : l.held_links) Emit(std::move(a));
  l.held_links.clear();
  std::vector<std::shared_ptr<DirState>> parents = std::move(l.held_parents);
  l.held_parents.clear();
  for (const std::shared_ptr<DirState>& parent : parents)
    if (--parent->held_children == 0 && parent->closed) EmitDirWhenDone(parent);
}

// Held leaders are sent once the walk is kMaxUndecidedSpan source entries past them, as
// undecided pairs are: the source keeps no more than that for us.
void Planner::ReleaseExpiredLeaders(int64_t src_index) {
  while (!held_leaders_.empty() && (src_index < 0 || src_index - *held_leaders_.begin() >= kMaxUndecidedSpan))
    ReleaseLeader(leaders_.at(*held_leaders_.begin()), {});
}

// -H: true when `d` is a name of a DST inode with several names that an earlier SRC name
// keeps. The first name to ask claims the inode.
bool Planner::ClaimedByAnotherName(const Entry& d) {
  if (!opts_.hard_links || d.nlink < 2 || d.ino == 0) return false;
  auto [it, fresh] = dst_claims_.try_emplace(DstInode{d.dev, d.ino}, d.nlink - 1);
  if (fresh) return false;
  if (--it->second == 0) dst_claims_.erase(it);  // every name seen: forget the inode
  return true;
}

// True when `s` is a -H follower of a remembered leader. A leader that is not remembered (a
// name beyond the leader's link count, e.g. one added during the scan; or a peer's bad index) makes `s` a file of its own: it is
// copied, never linked to something unchecked. Nor does it lead: later names of its inode
// name the forgotten leader, so remembering it would only hold its SendFile to the end.
bool Planner::KnownFollower(Entry& s, int64_t src_index) {
  if (!IsFollower(s, opts_)) return false;
  if (s.link_leader < src_index && leaders_.contains(s.link_leader)) return true;
  s.link_leader = -1;
  s.nlink = 1;
  return false;
}

void Planner::VisitFollower(Entry s, int64_t src_index, std::optional<Entry> d) {
  if (!leaders_.at(s.link_leader).undecided)
    return DecideFollower(std::move(s), src_index, std::move(d), ParentState(s.path));
  Waiting w;
  w.kind = Waiting::Follower;
  w.parent = ParentState(s.path);
  w.src_index = src_index;
  w.src = std::move(s);
  w.has_dst = d.has_value();
  if (d) w.dst = std::move(*d);
  waiting_.push_back(std::move(w));
}

// A -H follower shares its leader's inode, so its data and metadata come with the leader.
// It is left alone when DST already has it linked to the DST file at the leader's path and
// that file is kept (a re-sent leader is a new inode, so the link must be redone). A held
// leader takes this name's DST file when it has the leader's content.
void Planner::DecideFollower(Entry s, int64_t src_index, std::optional<Entry> d,
                             const std::shared_ptr<DirState>& parent) {
  auto it = leaders_.find(s.link_leader);
  if (it == leaders_.end()) {  // more names than the leader's link count said: a file of its own
    s.link_leader = -1;
    if (d) return DecideFile(std::move(s), src_index, std::move(*d), parent);
    Touch(parent.get());
    return Emit(Make(ActionKind::SendFile, s, src_index, kChNew, false));
  }
  Leader& leader = it->second;
  if (leader.held && d && Adoptable(s, *d)) {
    Action link = *leader.held;
    link.kind = ActionKind::HardLink;
    link.leader = d->path;
    std::vector<Action> instead{std::move(link)};
    if (uint16_t meta = MetaBits(s, *d, opts_)) instead.push_back(Make(ActionKind::MetaOnly, s, src_index, meta, true));
    leader.dst_kept = true;
    leader.dst_dev = d->dev;
    leader.dst_ino = d->ino;
    ReleaseLeader(leader, std::move(instead));
  }
  bool linked = d && leader.dst_kept && d->ino != 0 && d->dev == leader.dst_dev && d->ino == leader.dst_ino;
  bool last = --leader.followers_left == 0;
  if (!linked) {
    uint16_t changes = kChNew;
    if (d) {
      changes = MetaBits(s, *d, opts_);
      if (s.size != d->size) changes |= kChSize;
    }
    Touch(parent.get());
    Action a = Make(ActionKind::HardLink, s, src_index, changes, d.has_value());
    a.leader = leader.path;
    if (leader.held) {
      leader.held_links.push_back(std::move(a));
      HoldIn(leader, parent);  // emitted after its directory's walk ended, maybe (-L names)
    } else {
      Emit(std::move(a));
    }
  }
  if (!last) return;
  if (leader.held) ReleaseLeader(leader, {});  // every name seen, none in DST: send it
  leaders_.erase(it);
}

void Planner::ReplaceOrMeta(EntryPair& p, ActionKind kind, bool differs, uint16_t why) {
  uint16_t meta = MetaBits(*p.src, *p.dst, opts_);
  if (differs) {
    Touch(ParentOf(p.src->path));
    Emit(Make(kind, *p.src, p.src_index, why | meta, true));
  } else if (meta != 0) {
    Emit(Make(ActionKind::MetaOnly, *p.src, p.src_index, meta, true));
  }
}

// Creation of a SRC entry absent from DST (or whose DST entry was removed for a retype).
void Planner::Create(Entry s, int64_t src_index) {
  switch (s.type) {
    case EntryType::Dir:
      Emit(Make(ActionKind::MkDir, s, src_index, kChNew, false));
      return OpenDirectory(s, src_index, false, kChNew);
    case EntryType::File:
      if (KnownFollower(s, src_index)) return VisitFollower(std::move(s), src_index, std::nullopt);
      RememberLeader(s, src_index, nullptr, false);
      return PlanSend(Make(ActionKind::SendFile, s, src_index, kChNew, false), ParentState(s.path));
    case EntryType::Symlink:
      return Emit(Make(ActionKind::Symlink, s, src_index, kChNew, false));
    case EntryType::Fifo:
    case EntryType::Socket:
    case EntryType::CharDev:
    case EntryType::BlockDev:
      return Emit(Make(ActionKind::Special, s, src_index, kChNew, false));
  }
}

// A DST entry of another type is in the way. A non-directory goes at once; a directory's
// whole subtree must go first (deepest first), so the new entry waits until the walk has
// seen the last of it.
void Planner::StartRetype(EntryPair& p) {
  Touch(ParentOf(p.src->path));
  Count(ActionKind::RemoveForType);
  // kChNew: this removal makes room for SRC's entry (its subtree's are plain removals), so
  // printers can show the change as the new entry's line only, as rsync does.
  Action remove = Make(ActionKind::RemoveForType, *p.dst, -1, kChNew, true);
  if (p.dst->IsDir()) {
    sink_.Remove(std::move(remove));
    retyping_ = p.dst->path;
    retype_src_ = std::move(*p.src);
    retype_src_index_ = p.src_index;
    return;
  }
  Emit(std::move(remove));
  Create(std::move(*p.src), p.src_index);
}

void Planner::EndRetype() {
  sink_.EndRemoval();
  retyping_.reset();
  Entry s = std::move(*retype_src_);
  retype_src_.reset();
  Create(std::move(s), retype_src_index_);
}

void Planner::OpenDirectory(const Entry& s, int64_t src_index, bool exists, uint16_t changes) {
  auto state = std::make_shared<DirState>();
  state->meta = Make(ActionKind::DirMeta, s, src_index, changes, exists);
  state->keep = changes != 0;
  state->partial = s.contents_partial;
  open_dirs_.push_back({s.path, std::move(state)});
}

void Planner::CloseDir() {
  std::shared_ptr<DirState> state = std::move(open_dirs_.back().state);
  open_dirs_.pop_back();
  EmitDirWhenDone(state);
}

// After the undecided pairs before it, if any.
void Planner::EmitDirWhenDone(const std::shared_ptr<DirState>& d) {
  if (waiting_.empty()) return EmitDir(*d);
  Waiting w;
  w.kind = Waiting::Dir;
  w.parent = d;
  waiting_.push_back(std::move(w));
}

void Planner::EmitDir(DirState& d) {
  if (d.held_children > 0) {  // ReleaseLeader emits it
    d.closed = true;
    return;
  }
  if (!d.keep) return;
  Count(d.meta);
  if (d.deletes) {
    sink_.AfterDeletes(std::move(d.meta));
  } else {
    sink_.Apply(std::move(d.meta));
  }
}

void Planner::Emit(Action a) {
  if (!waiting_.empty()) {
    Waiting w;
    w.kind = Waiting::Ready;
    w.action = std::move(a);
    waiting_.push_back(std::move(w));
    return;
  }
  Count(a);
  sink_.Apply(std::move(a));
}

std::shared_ptr<Planner::DirState> Planner::ParentState(std::string_view child) {
  return ParentOf(child) ? open_dirs_.back().state : nullptr;
}

bool Planner::WantsHashes(int64_t next_src_index) const {
  if (pairs_waiting_ == 0) return false;
  return pairs_waiting_ >= kMaxUndecided || (next_src_index >= 0 && next_src_index - oldest_undecided_ >= kMaxUndecidedSpan);
}

Planner::HashNeeds Planner::TakeHashNeeds() {
  HashNeeds needs;
  for (Waiting& w : waiting_) {
    if (w.kind != Waiting::Pair) continue;
    if (!w.src.hash) needs.src.emplace_back(w.src_index, &w.src);
    if (!w.dst.hash) needs.dst.push_back(&w.dst);
  }
  return needs;
}

void Planner::Resolve() {
  std::deque<Waiting> items;
  items.swap(waiting_);
  pairs_waiting_ = 0;
  oldest_undecided_ = -1;
  // waiting_ is empty now, so everything below reaches the sink at once, in order.
  for (Waiting& w : items) {
    switch (w.kind) {
      case Waiting::Ready:
        Count(w.action);
        sink_.Apply(std::move(w.action));
        break;
      case Waiting::Pair:
        DecideFile(std::move(w.src), w.src_index, std::move(w.dst), w.parent);
        break;
      case Waiting::Follower:
        DecideFollower(std::move(w.src), w.src_index, w.has_dst ? std::optional<Entry>(std::move(w.dst)) : std::nullopt,
                       w.parent);
        break;
      case Waiting::Dir:
        EmitDir(*w.parent);
        break;
    }
  }
}

int64_t Planner::OldestUndecided(int64_t next_src_index) const {
  int64_t oldest = pairs_waiting_ > 0 ? oldest_undecided_ : next_src_index;
  return held_leaders_.empty() ? oldest : std::min(oldest, *held_leaders_.begin());
}

void Planner::Finish() {
  Resolve();
  if (retyping_) EndRetype();
  ReleaseExpiredLeaders(-1);  // all of them
  while (!open_dirs_.empty()) CloseDir();
}

Action Planner::Make(ActionKind kind, const Entry& e, int64_t src_index, uint16_t changes, bool replaces) const {
  Action a;
  a.kind = kind;
  a.changes = changes;
  a.replaces = replaces;
  a.src_index = src_index;
  a.entry = e;
  return a;
}

void Planner::RememberLeader(const Entry& s, int64_t src_index, const Entry* kept_dst, bool undecided) {
  if (!MayLead(s, opts_)) return;
  auto [it, fresh] = leaders_.try_emplace(src_index);
  Leader& l = it->second;
  if (fresh) {
    if (leaders_.size() > max_leaders_) {
      throw Error(ExitCode::StreamData, "more than " + std::to_string(max_leaders_) +
                                            " source files with several hard links are waiting for their other "
                                            "names; mirror with --no-hard-links");
    }
    l.path = s.path;
    l.followers_left = s.nlink - 1;
  }
  l.undecided = undecided;
  l.dst_kept = kept_dst && kept_dst->ino != 0;
  l.dst_dev = kept_dst ? kept_dst->dev : 0;
  l.dst_ino = kept_dst ? kept_dst->ino : 0;
}

void Planner::Count(ActionKind k) {
  if (IsDeletion(k)) ++totals_.to_delete;
}

void Planner::Count(const Action& a) {
  switch (a.kind) {
    case ActionKind::SendFile:
      ++totals_.files_to_send;
      totals_.bytes_to_send += a.entry.size;
      break;
    case ActionKind::Delete:
    case ActionKind::RemoveForType:
      break;  // counted where they are emitted (Count(kind)): they bypass the waiting queue
    case ActionKind::MetaOnly:
      ++totals_.meta_only;
      break;
    case ActionKind::DirMeta:
      if (a.changes != 0 && !(a.changes & kChNew)) ++totals_.meta_only;
      break;
    case ActionKind::MkDir:
    case ActionKind::Symlink:
    case ActionKind::Special:
    case ActionKind::HardLink:
      ++totals_.created_other;
      break;
  }
}

}  // namespace ktsync
