// Plan: the streaming decision of what makes DST identical to SRC. Pure: no filesystem, no
// sockets. The local mirror, both ends of a network run and --dry-run all feed the same
// Planner, so what a dry run prints is what a real run does.
//
// The Planner is fed pairs in path order (diff.h merges the two scans into them) and emits
// self-contained Actions to a PlanSink as soon as they are decided, so data can move while
// the trees are still being listed. Its memory is bounded: the open directories along the
// current path, the undecided pairs (at most kMaxUndecided, waiting for content hashes)
// and, with hard links, one small record per source inode that has several links and per
// DST inode with several names (a DST link SRC does not have is broken: the first SRC name
// that keeps the inode claims it, every other name of it gets a copy of its own). A leader
// whose data would be sent is held while its other names come (within the same span as
// undecided pairs): when one of them is in DST with the same content, the leader is linked
// to that file instead, and no data moves. Only the leader's own links and its directory's
// DirMeta wait for it; everything else is emitted as decided.
//
// What the sink must do with each kind of output (plan order = emission order):
//   Apply         RemoveForType of a non-directory, MkDir, SendFile, MetaOnly, Symlink,
//                 Special in plan order; HardLink and DirMeta only once every SendFile
//                 emitted before them is done (a link needs its leader's data, a directory's
//                 mtime must be set after its last child changed).
//   Remove        RemoveForType of a DST directory that changes type, then of its whole
//                 subtree (parents first); the sink removes them deepest first at
//                 EndRemoval, before the next Apply (which creates the new entry).
//   Delete        extraneous DST entries, parents first: at the very end, deepest first,
//                 and only when the deletion gate allows (no error, or --delete-on-error).
//   Keep          a DST-only directory Delete'd before whose subtree turned out to hold
//                 entries the filter rules protect: its Delete is not carried out (rsync's
//                 "cannot delete non-empty directory"), and is not in PlanTotals::to_delete.
//                 At most once per directory, after its Delete, the deepest first.
//   AfterDeletes  DirMeta of a directory whose children are deleted: after the deletions.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "manifest/entry.h"

namespace ktsync {

enum class ActionKind : uint8_t {
  RemoveForType = 1,  // dst: remove entry whose type changes (part of a replace, not a delete)
  MkDir = 2,          // src: create directory
  SendFile = 3,       // src: whole-file transfer (replaces the DST file when `replaces`)
  MetaOnly = 4,       // src: same content, fix mode/owner/mtime without copying data
  Symlink = 5,        // src: create or replace a symlink
  Special = 6,        // src: fifo, socket or device node
  HardLink = 7,       // src: link the path to `leader`
  Delete = 8,         // dst: extraneous entry
  DirMeta = 9,        // src: set directory metadata
};

// What differs, for itemize output and stats (bit set).
enum ChangeBits : uint16_t {
  kChNew = 1 << 0,       // entry does not exist in DST (or is being retyped); on a
                         // RemoveForType: the entry in the way itself, not its subtree's
  kChChecksum = 1 << 1,  // content hash differs (--checksum)
  kChSize = 1 << 2,
  kChMtime = 1 << 3,
  kChPerms = 1 << 4,
  kChOwner = 1 << 5,
  kChGroup = 1 << 6,
  kChTarget = 1 << 7,    // symlink target differs
  kChAcl = 1 << 8,       // POSIX ACLs differ
  kChXattr = 1 << 9,     // other extended attributes differ
};
inline constexpr uint16_t kAllChangeBits = (1 << 10) - 1;

struct Action {
  ActionKind kind = ActionKind::MetaOnly;
  uint16_t changes = 0;
  bool replaces = false;    // DST has an entry at this path that the action overwrites or updates
  int64_t src_index = -1;   // the SRC entry's ordinal: what a remote source is asked for
  Entry entry;              // the SRC entry; the DST entry for RemoveForType and Delete
  std::string leader;       // HardLink: the path this entry becomes another name of
};

bool IsDeletion(ActionKind k);  // Delete or RemoveForType

// What a user is shown of an action (itemize line, JSON item), and all a push server sends
// its client of one: the action's kind and changes and its entry's visible fields.
struct ItemView {
  ActionKind kind = ActionKind::MetaOnly;
  uint16_t changes = 0;
  EntryType type = EntryType::File;
  uint64_t size = 0;
  int64_t mtime = 0;   // seconds; 0 for deletions (rsync's %M shows them the epoch)
  std::string path;
  std::string target;  // symlinks (not for deletions)
  std::string leader;  // hard links
  bool operator==(const ItemView&) const = default;
};
ItemView ViewOf(const Action& a);

struct PlanOptions {
  bool checksum = false;      // compare content hashes instead of size+mtime
  bool delete_extraneous = true;
  bool hard_links = false;    // -H: SRC link_leader is honoured
  bool owner = false;         // mirror uid (root or --owner)
  bool group = false;         // mirror gid
  bool link_owners = true;    // also of symlinks (--fake-super cannot store theirs)
  // A same-size file with another mtime is hashed, and not resent when its content is the
  // same. False (a write-only daemon): resent unhashed, since "no need" would confirm a
  // client's guess of the daemon's content.
  bool hash_touched = true;
  bool times = true;          // mirror mtimes
  bool perms = true;
  int64_t mtime_tolerance_ns = 0;  // --modify-window
  // rsync's transfer rules (diff.h SkipsTransfer): a SRC entry one of them skips is left as
  // DST has it, neither created, updated nor deleted; a skipped directory with its subtree.
  bool update_only = false;        // -u: keep a DST file whose mtime is newer than SRC's
  bool ignore_existing = false;    // keep every DST entry (existing directories still descended)
  bool existing_only = false;      // --existing: create nothing DST lacks
  uint64_t min_size = 0;           // --min-size: skip smaller SRC files
  uint64_t max_size = UINT64_MAX;  // --max-size: skip larger SRC files
  bool size_only = false;          // a file of the same size has the same content
  uint8_t xattrs = 0;         // extended attribute classes mirrored (xattrs.h; -X, -A)
  // Of those, what DST's side may set (decided there: unprivileged, no security.* or
  // trusted.*). The rest is not compared, so runs converge; the Planner counts what it skips.
  uint8_t xattrs_writable = kXattrAll;
};

struct PlanTotals {
  uint64_t files_to_send = 0;
  uint64_t bytes_to_send = 0;
  uint64_t to_delete = 0;        // Delete + RemoveForType entries
  uint64_t meta_only = 0;        // MetaOnly + DirMeta with changes of its own
  uint64_t created_other = 0;    // MkDir, Symlink, Special, HardLink
};

class PlanSink {
 public:
  virtual ~PlanSink() = default;
  virtual void Apply(Action a) = 0;
  virtual void Remove(Action a) = 0;
  virtual void EndRemoval() = 0;
  virtual void Delete(Action a) = 0;
  virtual void Keep(Action a) = 0;
  virtual void AfterDeletes(Action a) = 0;
};

// One step of the merge: the SRC and/or DST entry at one path.
struct EntryPair {
  std::optional<Entry> src;
  int64_t src_index = -1;  // ordinal of `src` in its stream
  std::optional<Entry> dst;
  // The destination will not create `src` (a daemon's WriteLimits, --safe-links): DST's
  // entry at its path stays as it is, a directory with its whole subtree.
  bool src_refused = false;
};

class Planner {
 public:
  // Undecided pairs at most, and the widest span of SRC ordinals they may cover: the
  // caller resolves hashes before either is exceeded (WantsHashes), so a remote source
  // never holds more than this many entries for our requests.
  static constexpr size_t kMaxUndecided = 4096;
  static constexpr int64_t kMaxUndecidedSpan = 16384;

  // `max_leaders` bounds the hard-link leaders remembered at once (a peer's stream could
  // claim every file has links); beyond it the run ends with Error(StreamData).
  Planner(const PlanOptions& opts, PlanSink& sink, size_t max_leaders = SIZE_MAX);

  // Pairs in path order, the root's first (MergeWalk guarantees both).
  void Visit(EntryPair p);

  // True when the undecided pairs must be resolved before the next Visit of a pair whose
  // SRC ordinal is `next_src_index` (or any pair, when -1).
  bool WantsHashes(int64_t next_src_index) const;
  // Entries of undecided pairs that still lack a content hash. The pointers stay valid
  // until Resolve; the caller fills Entry::hash where it can (a hash left empty counts
  // as different: a pair is never assumed equal).
  struct HashNeeds {
    std::vector<std::pair<int64_t, Entry*>> src;  // (ordinal, entry)
    std::vector<Entry*> dst;
  };
  HashNeeds TakeHashNeeds();
  bool HasUndecided() const { return pairs_waiting_ > 0; }
  // Decides every undecided pair and emits what waited behind them, in plan order.
  void Resolve();
  // Oldest SRC ordinal the caller may still need to ask the source about (hashes or data
  // of an undecided pair, the data of a held leader); `next_src_index` when none.
  int64_t OldestUndecided(int64_t next_src_index) const;
  // Emits the held leaders' sends now, without waiting for their other names (which then
  // get data of their own or link to the leader): the source may hold no more for us.
  void SendHeldLeaders() { ReleaseExpiredLeaders(-1); }
  // End of both streams (after a last Resolve): closes the open directories.
  void Finish();

  const PlanTotals& totals() const { return totals_; }
  uint64_t src_entries() const { return src_entries_; }
  uint64_t dst_entries() const { return dst_entries_; }
  // SRC entries with attributes of classes mirrored but not writable at DST (PlanOptions).
  const XattrLosses& unwritable_xattrs() const { return unwritable_xattrs_; }

 private:
  // A directory whose DirMeta is not emitted yet: open, or closed behind an undecided pair
  // that may still change it.
  struct DirState {
    Action meta;
    bool keep = false;      // changed itself, or a child was created, replaced or deleted
    bool deletes = false;   // a child is deleted: the DirMeta waits for the deletions
    int held_children = 0;  // held leaders and links to them inside: the DirMeta waits for them too
    bool closed = false;    // the walk left it while children were held
    bool partial = false;   // SRC took only some children (Entry::contents_partial)
  };
  struct OpenDir {
    std::string path;
    std::shared_ptr<DirState> state;
  };
  // A hard-link leader candidate: a SRC file with more than one link.
  struct Leader {
    std::string path;
    uint64_t dst_dev = 0, dst_ino = 0;  // the DST file at the same path, when kept
    bool dst_kept = false;              // that DST file stays (same content, not re-sent)
    bool undecided = false;             // its pair waits for hashes
    uint32_t followers_left = 0;        // forgotten once all its other names were seen
    // Held: the leader's SendFile, the links to it decided meanwhile, and the directories
    // of both (held_parents[0] the leader's): each DirMeta waits for what goes inside it.
    std::optional<Action> held;
    std::vector<Action> held_links;
    std::vector<std::shared_ptr<DirState>> held_parents;
  };
  // Plan order is kept through undecided pairs: while one waits, later Apply output waits
  // behind it (Delete, Remove and AfterDeletes output does not depend on it).
  struct Waiting {
    enum Kind { Ready, Pair, Follower, Dir } kind = Ready;
    Action action;                      // Ready
    Entry src, dst;                     // Pair; Follower: src (+dst when has_dst)
    int64_t src_index = -1;
    bool has_dst = false;
    std::shared_ptr<DirState> parent;   // Pair, Follower: their directory; Dir: itself
  };

  void Leave(std::string_view path);
  DirState* ParentOf(std::string_view child);
  std::shared_ptr<DirState> ParentState(std::string_view child);
  static void Touch(DirState* parent);
  // `dir` (a held leader's, or a held link's) waits for the leader's release.
  static void HoldIn(Leader& l, const std::shared_ptr<DirState>& dir);
  bool KeptByFilter(const Entry& d);
  bool KeptByList(const Entry& d);
  void KeepDeletedParents();
  void VisitRoot(EntryPair& p);
  void VisitSameType(EntryPair& p);
  void VisitFile(EntryPair& p);
  void DecideFile(Entry s, int64_t src_index, Entry d, const std::shared_ptr<DirState>& parent);
  void PlanSend(Action send, const std::shared_ptr<DirState>& parent);
  bool Adoptable(const Entry& s, const Entry& d);
  void ReleaseLeader(Leader& l, std::vector<Action> lead);
  void ReleaseExpiredLeaders(int64_t src_index);
  void EmitDirWhenDone(const std::shared_ptr<DirState>& d);
  bool KnownFollower(Entry& s, int64_t src_index);
  void VisitFollower(Entry s, int64_t src_index, std::optional<Entry> d);
  void DecideFollower(Entry s, int64_t src_index, std::optional<Entry> d, const std::shared_ptr<DirState>& parent);
  void ReplaceOrMeta(EntryPair& p, ActionKind kind, bool differs, uint16_t why);
  void Create(Entry s, int64_t src_index);
  void StartRetype(EntryPair& p);
  void EndRetype();
  void OpenDirectory(const Entry& s, int64_t src_index, bool exists, uint16_t changes);
  void CloseDir();
  void EmitDir(DirState& d);
  void Emit(Action a);
  void Count(ActionKind k);
  void Count(const Action& a);
  Action Make(ActionKind kind, const Entry& e, int64_t src_index, uint16_t changes, bool replaces) const;
  void RememberLeader(const Entry& s, int64_t src_index, const Entry* kept_dst, bool undecided);
  bool ClaimedByAnotherName(const Entry& d);

  const PlanOptions opts_;
  PlanSink& sink_;
  const size_t max_leaders_;
  PlanTotals totals_;
  uint64_t src_entries_ = 0, dst_entries_ = 0;
  XattrLosses unwritable_xattrs_;
  std::vector<OpenDir> open_dirs_;  // SRC directories enclosing the current path
  std::optional<std::string> skipped_;   // a SRC dir left alone with its subtree (-x, a transfer rule)
  std::optional<std::string> kept_;      // a DST-only dir kept whole by filter rules
  // The DST-only directories being deleted along the current path, outermost first. One
  // that holds a protected entry is kept (its Delete retracted by Keep), and so are those
  // around it.
  struct DeletedDir {
    Action del;
    bool kept = false;
  };
  std::vector<DeletedDir> deleting_;
  // A DST directory being replaced by another type: its subtree goes to Remove, and the
  // SRC entry that takes its place is created when the walk leaves it.
  std::optional<std::string> retyping_;
  std::optional<Entry> retype_src_;
  int64_t retype_src_index_ = -1;
  std::deque<Waiting> waiting_;
  size_t pairs_waiting_ = 0;          // Pair items in waiting_
  int64_t oldest_undecided_ = -1;     // SRC ordinal of the first of them
  std::unordered_map<int64_t, Leader> leaders_;  // by SRC ordinal (-H only)
  std::set<int64_t> held_leaders_;               // SRC ordinals of those held
  struct DstInode {
    uint64_t dev, ino;
    bool operator==(const DstInode&) const = default;
  };
  struct DstInodeHash {
    size_t operator()(const DstInode& k) const { return k.ino * 0x9E3779B97F4A7C15ull ^ k.dev; }
  };
  // DST inodes with several names kept by one SRC name: how many other names remain (-H).
  std::unordered_map<DstInode, uint32_t, DstInodeHash> dst_claims_;
};

}  // namespace ktsync
