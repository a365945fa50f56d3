// A model of a tree in memory, and the planner run over two streams with its output carried
// out on the model in the order plan.h prescribes: the property "the plan makes DST
// identical to SRC" checked without a filesystem. Used by plan_test (random trees) and by
// fuzz/session_fuzz.cpp (trees from the fuzzer's bytes).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "manifest/diff.h"
#include "manifest/plan.h"
#include "util/error.h"

namespace ktsync::plan_model {

struct Node {
  EntryType type = EntryType::File;
  uint64_t size = 0;
  std::optional<Hash128> content;  // files: what is in them
  std::string target;
  uint64_t rdev = 0;
  uint32_t mode = 0;
  Timestamp mtime;
  int64_t inode = -1;  // files with the same inode are one file under several names

  // Linux cannot change a symlink's mode: it is never compared.
  bool SameAs(const Node& o) const {
    return type == o.type && size == o.size && content == o.content && target == o.target && rdev == o.rdev &&
           (mode == o.mode || type == EntryType::Symlink) && mtime == o.mtime;
  }
};
using Tree = std::map<std::string, Node>;

// Why `a` cannot be carried out on `t`, or "" after carrying it out.
inline std::string Carry(Tree& t, const Action& a, int64_t& next_inode) {
  const std::string& p = a.entry.path;
  auto it = t.find(p);
  auto parent_ok = [&] {
    if (p.empty()) return true;
    auto pit = t.find(std::string(ParentPath(p)));
    return pit != t.end() && pit->second.type == EntryType::Dir;
  };
  auto children = [&] {
    auto next = t.upper_bound(p);
    return next != t.end() && next->first.size() > p.size() && next->first.compare(0, p.size(), p) == 0 &&
           next->first[p.size()] == '/';
  };
  Node n;
  n.type = a.entry.type;
  n.size = a.entry.size;
  n.content = a.entry.hash;
  n.target = a.entry.link_target();
  n.rdev = a.entry.rdev();
  n.mode = a.entry.mode;
  n.mtime = a.entry.mtime;
  n.inode = next_inode++;
  switch (a.kind) {
    case ActionKind::RemoveForType:
    case ActionKind::Delete:
      if (it == t.end()) return "removes a missing " + p;
      if (it->second.type == EntryType::Dir && children()) return "removes non-empty directory " + p;
      t.erase(it);
      return "";
    case ActionKind::MkDir:
      if (it != t.end() || !parent_ok()) return "mkdir over something, or without a parent: " + p;
      t[p] = n;
      return "";
    case ActionKind::SendFile:
    case ActionKind::Symlink:
    case ActionKind::Special:
      if (!parent_ok()) return "creates " + p + " without a parent";
      if (it != t.end() && it->second.type == EntryType::Dir) return "replaces directory " + p + " in place";
      t[p] = n;
      return "";
    case ActionKind::HardLink: {
      auto leader = t.find(a.leader);
      if (leader == t.end() || leader->second.type != EntryType::File) return "links " + p + " to nothing";
      if (!parent_ok() || (it != t.end() && it->second.type == EntryType::Dir)) return "cannot link " + p;
      t[p] = leader->second;
      return "";
    }
    case ActionKind::MetaOnly:
    case ActionKind::DirMeta: {
      if (it == t.end() || it->second.type != n.type) return "metadata for a missing or other-type " + p;
      if (a.kind == ActionKind::MetaOnly && n.type == EntryType::File && it->second.content != n.content) {
        return "metadata-only update of " + p + " whose content differs";
      }
      int64_t inode = it->second.inode;
      for (auto& [path, node] : t) {  // every name of the inode changes with it
        if (&node != &it->second && (inode < 0 || node.inode != inode)) continue;
        node.mode = n.mode;
        node.mtime = n.mtime;
      }
      return "";
    }
  }
  return "unknown action";
}

// Carries the sink's output out on a model, in plan.h's order; records the first error.
class ModelSink : public PlanSink {
 public:
  explicit ModelSink(Tree& t) : t_(t) {}
  void Apply(Action a) override { Do(a); }
  void Remove(Action a) override { removals_.push_back(std::move(a)); }
  void EndRemoval() override {
    for (auto it = removals_.rbegin(); it != removals_.rend(); ++it) Do(*it);
    removals_.clear();
  }
  void Delete(Action a) override { deletes_.push_back(std::move(a)); }
  void Keep(Action a) override {
    std::erase_if(deletes_, [&](const Action& d) { return d.entry.path == a.entry.path; });
  }
  void AfterDeletes(Action a) override { after_.push_back(std::move(a)); }
  void Finish() {
    for (auto it = deletes_.rbegin(); it != deletes_.rend(); ++it) Do(*it);
    for (const Action& a : after_) Do(a);
  }
  const std::string& error() const { return error_; }

 private:
  void Do(const Action& a) {
    std::string why = Carry(t_, a, next_inode_);
    if (error_.empty() && !why.empty()) error_ = why;
  }
  Tree& t_;
  int64_t next_inode_ = int64_t{1} << 40;  // above any inode the trees use
  std::vector<Action> removals_, deletes_, after_;
  std::string error_;
};

inline Tree TreeOf(const Manifest& m) {
  Tree t;
  for (size_t i = 0; i < m.size(); ++i) {
    const Entry& e = m[i];
    Node n;
    n.type = e.type;
    n.size = e.size;
    n.content = e.hash;
    n.target = e.link_target();
    n.rdev = e.rdev();
    n.mode = e.mode;
    n.mtime = e.mtime;
    if (e.IsFile() && e.ino != 0) n.inode = static_cast<int64_t>(e.ino);
    t[e.path] = n;
  }
  return t;
}

// Gives the files of `m` inodes (on `dev`, from `first_ino` on) and makes some of them more
// names of an earlier file: `pick(n)`, asked when n files lead so far, names one of them
// (0..n-1), or returns n for a file of its own.
template <class Pick>
void LinkSomeFiles(Manifest& m, uint64_t dev, uint64_t first_ino, Pick pick) {
  std::vector<size_t> leaders;
  for (size_t i = 0; i < m.size(); ++i) {
    if (!m[i].IsFile()) continue;
    m[i].dev = dev;
    m[i].ino = first_ino + i;
    size_t k = leaders.empty() ? 0 : pick(leaders.size());
    if (k == leaders.size()) {
      leaders.push_back(i);
      continue;
    }
    Entry& leader = m[leaders[k]];
    ++leader.nlink;
    Entry& f = m[i];
    f.link_leader = static_cast<int64_t>(leaders[k]);
    f.size = leader.size;
    f.mtime = leader.mtime;
    f.mode = leader.mode;
    f.hash = leader.hash;
    f.ino = leader.ino;
  }
}

class VectorSource : public EntrySource {
 public:
  explicit VectorSource(const Manifest& m) : m_(m) {}
  bool NextBatch(EntryBatch& out) override {
    if (done_) return false;
    done_ = true;
    out.first = 0;
    out.entries = m_;
    return true;
  }

 private:
  const Manifest& m_;
  bool done_ = false;
};

// Plans SRC onto DST (the hashes in the entries stand for the files' contents) and carries
// the plan out on a model of DST. Returns "" when the model ends up equal to SRC, else why
// not. Throws what the merge and planner throw.
inline std::string PlanMakesDestinationIdentical(const Manifest& src, const Manifest& dst, const PlanOptions& opts) {
  Tree t = TreeOf(dst);
  ModelSink sink(t);
  VectorSource s(src), d(dst);
  MergeWalk walk(s, d);
  Planner planner(opts, sink);
  EntryPair p;
  while (walk.Next(p)) {
    planner.Visit(std::move(p));
    if (planner.WantsHashes(walk.next_src_index())) planner.Resolve();
  }
  planner.Resolve();
  planner.Finish();
  sink.Finish();
  if (!sink.error().empty()) return sink.error();
  Tree want = TreeOf(src);
  if (t.size() != want.size()) return "entry count " + std::to_string(t.size()) + " vs " + std::to_string(want.size());
  for (const Entry& e : src) {
    auto it = t.find(e.path);
    if (it == t.end()) return "missing " + e.path;
    Node w = want[e.path];
    bool follower = opts.hard_links && e.IsFile() && e.link_leader >= 0;
    if (follower) w.content = want[src[static_cast<size_t>(e.link_leader)].path].content;  // one inode
    if (!it->second.SameAs(w)) return "differs: " + e.path;
    if (follower && it->second.inode != t[src[static_cast<size_t>(e.link_leader)].path].inode) {
      return "not linked to its leader: " + e.path;
    }
  }
  return "";
}

}  // namespace ktsync::plan_model
