#include "manifest/scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <deque>
#include <optional>
#include <unordered_map>

#include "manifest/dir_listing.h"
#include "manifest/stat_ahead.h"
#include "manifest/fake_super.h"
#include "manifest/xattr_io.h"
#include "util/error.h"
#include "util/unique_fd.h"

namespace ktsync {
namespace {

// Everything Entry records, and nothing else: network filesystems may skip what is not asked.
constexpr unsigned kStatxMask = STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID |
                                STATX_MTIME | STATX_CTIME | STATX_INO | STATX_SIZE;
// AT_NO_AUTOMOUNT: listing an autofs mount point must not mount it.
constexpr int kStatFlags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT;
constexpr size_t kDentsBufSize = 128 * 1024;
// A per-directory filter file is rules, not data: anything larger is a mistake or an attack.
constexpr size_t kMaxRuleFileBytes = 1 << 20;

// The text of dir-merge file `name` in dirfd (labelled `dir`/name), nullopt when there is
// none. Symlinks are not followed: the tree's owner may not be the one running the scan.
std::optional<std::string> ReadRuleFile(int dirfd, const std::string& name, std::string_view dir) {
  // Built only for a message: this runs for every directory of the walk.
  auto label = [&] { return dir.empty() ? name : std::string(dir) + "/" + name; };
  // Looked at before it is opened: opening a device can have effects of its own.
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;
    throw SysError("stat " + label(), errno);
  }
  if (S_ISLNK(st.st_mode)) throw Error(ExitCode::FileIo, label() + " is a symlink: filter files are read only when regular");
  if (!S_ISREG(st.st_mode)) throw Error(ExitCode::FileIo, label() + " is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxRuleFileBytes)
    throw Error(ExitCode::FileIo, label() + " is larger than 1 MiB: not a filter file");
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat opened;
  if (!fd || ::fstat(fd.get(), &opened) != 0) throw SysError("open " + label(), errno);
  if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino || !S_ISREG(opened.st_mode))
    throw Error(ExitCode::FileIo, label() + " changed while it was opened");
  std::string text(static_cast<size_t>(opened.st_size) + 1, '\0');
  size_t used = 0;
  for (;;) {
    if (used == text.size()) text.resize(std::min(text.size() * 2, kMaxRuleFileBytes + 1));
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SysError("read " + label(), errno);
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used > kMaxRuleFileBytes) throw Error(ExitCode::FileIo, label() + " is larger than 1 MiB: not a filter file");
  }
  text.resize(used);
  return text;
}

// Where a dir-merge rule naming a directory ("/.rsync-filter", "../../.f") starts reading
// parents' files: that directory, lexically resolved against the root, when it is above it.
std::optional<std::string> MergeStartDir(std::string_view pattern, const std::string& abs_root) {
  size_t slash = pattern.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view dir = pattern.substr(0, slash);
  std::vector<std::string_view> parts;
  std::string_view base = pattern.starts_with('/') ? std::string_view() : std::string_view(abs_root);
  for (std::string_view whole : {base, dir}) {
    while (!whole.empty()) {
      size_t cut = whole.find('/');
      std::string_view part = whole.substr(0, cut);
      whole = cut == std::string_view::npos ? std::string_view() : whole.substr(cut + 1);
      if (part == "..") {
        if (!parts.empty()) parts.pop_back();
      } else if (!part.empty() && part != ".") {
        parts.push_back(part);
      }
    }
  }
  std::string start;
  for (std::string_view p : parts) start.append("/").append(p);
  if (start.empty()) start = "/";
  bool above = start == "/" ? abs_root != "/" : abs_root.starts_with(start + "/");
  return above ? std::optional<std::string>(start) : std::nullopt;
}

bool TypeOf(uint32_t mode, EntryType* out) {
  switch (mode & S_IFMT) {
    case S_IFREG: *out = EntryType::File; return true;
    case S_IFDIR: *out = EntryType::Dir; return true;
    case S_IFLNK: *out = EntryType::Symlink; return true;
    case S_IFIFO: *out = EntryType::Fifo; return true;
    case S_IFSOCK: *out = EntryType::Socket; return true;
    case S_IFCHR: *out = EntryType::CharDev; return true;
    case S_IFBLK: *out = EntryType::BlockDev; return true;
    default: return false;
  }
}

void FillFromStat(const struct statx& st, EntryType type, Entry* e) {
  e->type = type;
  e->mode = st.stx_mode & 07777;
  e->uid = st.stx_uid;
  e->gid = st.stx_gid;
  e->size = type == EntryType::File ? st.stx_size : 0;
  e->mtime = Timestamp::Of(st.stx_mtime);
  e->ctime_ns = Timestamp::Of(st.stx_ctime).KeyNs();
  e->dev = makedev(st.stx_dev_major, st.stx_dev_minor);
  e->ino = st.stx_ino;
  e->nlink = st.stx_nlink;
  if (type == EntryType::CharDev || type == EntryType::BlockDev)
    e->set_rdev(makedev(st.stx_rdev_major, st.stx_rdev_minor));
}

struct InodeIdHash {
  size_t operator()(const InodeId& k) const { return k.ino * 0x9E3779B97F4A7C15ull ^ k.dev; }
};

// A child as it is listed: its lstat, or with follow_links a symlink's referent, then held
// by an O_PATH fd so that its attributes and contents are read from the inode stat'ed.
struct Found {
  struct statx st;
  UniqueFd referent;
  XattrTarget Target(int dirfd, const char* name) const {
    return referent ? XattrTarget::PathFd(referent.get()) : XattrTarget::Beneath(dirfd, name);
  }
};

class Scanner {
 public:
  Scanner(const ScanOptions& opts, Problems& problems, ScanSink& sink)
      : opts_(opts),
        problems_(problems),
        sink_(sink),
        filtering_(opts.filter != nullptr && !opts.filter->empty()),
        list_(opts.file_list),
        met_(list_ ? list_->size() : 0, false),
        dents_(kDentsBufSize) {
    if (filtering_ && opts.filter->has_dir_merge()) dir_rules_.emplace(*opts.filter);
  }

  ScanSummary Run(int root_dirfd, std::string_view root_name) {
    // Our own open file description: the caller's fd keeps its offset, and may be O_PATH.
    UniqueFd root(::openat(root_dirfd, ".", kOpenDirFlags));
    if (!root) throw SysError("open " + std::string(root_name), errno, ExitCode::SelectFiles);
    struct statx st;
    if (::statx(root.get(), "", AT_EMPTY_PATH, kStatxMask, &st) != 0)
      throw SysError("stat " + std::string(root_name), errno, ExitCode::SelectFiles);
    Entry e;
    FillFromStat(st, EntryType::Dir, &e);
    root_dev_ = e.dev;
    if (int err = ReadXattrsOf(XattrTarget::Fd(root.get()), e); err != 0)
      throw SysError("read extended attributes of " + std::string(root_name), err, ExitCode::SelectFiles);
    ReadFakeStat(XattrTarget::Fd(root.get()), e);
    LoadRulesAbove();
    if (std::string why = LoadDirRules(root.get(), 0); !why.empty())
      throw Error(ExitCode::SelectFiles, std::string(root_name) + ": " + why);
    Pick pick = list_ ? list_->RootPick() : Pick::Whole;
    e.contents_partial = pick == Pick::Partial;
    InodeId id{e.dev, e.ino};
    Push(std::move(e));
    if (opts_.stat_ahead && !list_) ahead_.emplace(root.get(), static_cast<dev_t>(root_dev_), opts_.filter);
    if (int err = Enter({std::move(root), id}, pick); err != 0)
      throw SysError("read directory " + std::string(root_name), err, ExitCode::SelectFiles);
    Walk();
    ahead_.reset();
    if (list_ && !(opts_.cancel && opts_.cancel->load())) ReportUnmet();
    return std::move(summary_);
  }

 private:
  // One directory being walked: its fd (children are opened and stat'ed relative to it),
  // the next of its sorted names (in levels_ at the same depth) and its path's length.
  using Pick = FileList::Pick;
  struct Frame {
    UniqueFd fd;
    size_t next = 0;
    size_t path_len = 0;
    Pick pick = Pick::Whole;  // with a file list: how the directory was taken
  };
  // A directory to descend into, and what the loop check knows it by.
  struct Descend {
    UniqueFd fd;
    InodeId id;
  };

  // Depth-first with an explicit stack, not recursion: a hostile tree can nest far deeper
  // than a thread's stack allows (only RLIMIT_NOFILE bounds it, as one fd per level).
  void Walk() {
    while (!stack_.empty()) {
      if (opts_.cancel && opts_.cancel->load(std::memory_order_relaxed)) return;
      size_t depth = stack_.size() - 1;
      Frame& top = stack_.back();
      const DirListing& list = levels_[depth];
      if (top.next == list.names.size()) {
        stack_.pop_back();
        walk_ids_.pop_back();
        if (dir_rules_) dir_rules_->Leave(depth);
        continue;
      }
      const DirListing::Name& n = list.names[top.next++];
      path_.resize(top.path_len);
      if (!path_.empty()) path_ += '/';
      path_.append(list.Get(n));
      Pick pick = top.pick;
      Descend sub = VisitChild(top.fd.get(), list.CStr(n), list.Get(n), n.dtype, &pick);
      if (!sub.fd) continue;
      if (ahead_) ahead_->ScanEntered(path_);
      // ENOENT from getdents: the directory was removed while we read it.
      if (int err = Enter(std::move(sub), pick); err != 0) Report(err, "read directory", err == ENOENT);
    }
  }

  // Reads and sorts the names of the directory at path_ and pushes its frame. Returns a
  // read error, 0 if none (names read before an error are still walked).
  int Enter(Descend dir, Pick pick) {
    size_t depth = stack_.size();
    if (levels_.size() <= depth) levels_.emplace_back();
    int err = levels_[depth].Read(dir.fd.get(), dents_);
    stack_.push_back({std::move(dir.fd), 0, path_.size(), pick});
    walk_ids_.push_back(dir.id);
    return err;
  }

  // --files-from: how the list takes the child at path_ of a directory taken as *pick (which
  // becomes the child's). Out: it is not listed. A listed path met is marked.
  bool Picked(bool is_dir, Pick* pick) {
    if (!list_) return true;
    *pick = list_->PickChild(*pick, path_, is_dir);
    MetListed();
    return *pick != Pick::Out;
  }

  // The entry at path_ is excluded by the filter. With a list, so is what it lists beneath
  // an excluded directory (not missing: left out, as the rules say). On the receiving side
  // the entry stays in DST for good: named (Protection::Hidden, not counted) so that its
  // directory is not planned for deletion.
  Descend Excluded(bool is_dir) {
    if (is_dir) MetBeneath();
    if (opts_.filter_side == kRuleSender) return {};
    Entry e;
    e.path = path_;
    e.type = is_dir ? EntryType::Dir : EntryType::File;
    e.protection = Entry::Protection::Hidden;
    Emit(std::move(e));
    return {};
  }

  // With a list: the path_ counts as met, if listed.
  void MetListed() {
    if (!list_) return;
    if (size_t i = list_->Find(path_); i < met_.size()) met_[i] = true;
  }

  // With a list: the listed paths beneath the directory at path_ count as met (the walk
  // leaves them out on purpose, and says why elsewhere if it must).
  void MetBeneath() {
    if (!list_) return;
    auto [first, last] = list_->Beneath(path_);
    std::fill(met_.begin() + static_cast<std::ptrdiff_t>(first), met_.begin() + static_cast<std::ptrdiff_t>(last), true);
  }

  // The listed paths the walk never met: rsync's "link_stat failed" (exit 23).
  void ReportUnmet() {
    for (size_t i = 0; i < met_.size(); ++i)
      if (!met_[i] && !list_->path(i).empty())
        problems_.Fail(list_->path(i), ErrnoMessage("stat " + list_->path(i) + " (listed in --files-from)", ENOENT));
  }

  // Reads the dir-merge files of the directory at path_, about to be entered at `depth`.
  // Returns why one is bad ("" if none is): its rules cannot be honoured beneath it.
  std::string LoadDirRules(int dirfd, size_t depth) {
    if (!dir_rules_) return "";
    try {
      dir_rules_->Enter(path_, depth, [&](const std::string& name) { return ReadRuleFile(dirfd, name, path_); });
      return "";
    } catch (const Error& e) {
      dir_rules_->Leave(depth);  // none of its files apply, not even those read before
      return e.what();
    }
  }

  // dir-merge files in the root's parents, as rsync reads them for "dir-merge /.rsync-filter".
  // A bad one fails the scan: its rules cannot be honoured anywhere in the tree.
  void LoadRulesAbove() {
    if (!dir_rules_ || opts_.abs_root.empty()) return;
    const std::string& root = opts_.abs_root;
    const std::vector<FilterRule>& merges = opts_.filter->dir_merges();
    for (size_t slot = 0; slot < merges.size(); ++slot) {
      std::optional<std::string> dir = MergeStartDir(merges[slot].pattern, root);
      while (dir) {
        std::string above = root.substr(*dir == "/" ? 1 : dir->size() + 1);
        // O_PATH: only search permission is needed, as rsync reads through a 0711 parent.
        UniqueFd fd(::open(dir->c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) throw SysError("open " + *dir + " (to read its filter rules)", errno, ExitCode::SelectFiles);
        try {
          dir_rules_->EnterAbove(slot, *dir, above, [&](const std::string& name) { return ReadRuleFile(fd.get(), name, *dir); });
        } catch (const Error& e) {
          throw Error(ExitCode::SelectFiles, e.what());
        }
        size_t next = above.find('/');
        if (next == std::string::npos) break;
        *dir = (*dir == "/" ? "" : *dir) + "/" + above.substr(0, next);
      }
    }
  }

  // Whether a filter lets the entry at `path` be listed, and on the receiving side how it is
  // protected (Entry::protection).
  bool Listed(std::string_view path, bool is_dir, Entry::Protection* prot) const {
    const Filter& f = *opts_.filter;
    const DirRules* d = dir_rules_ ? &*dir_rules_ : nullptr;
    if (opts_.filter_side == kRuleSender) return f.Check(path, is_dir, kRuleSender, d) >= 0;
    *prot = Entry::Protection::None;
    bool kept = f.Check(path, is_dir, kRuleReceiver, d) < 0;
    if (f.symmetric()) return !kept;  // SRC leaves it out too, so it is kept: no need to read it
    // Inside a directory being deleted rsync ignores perishable rules: another verdict.
    bool kept_there = f.Check(path, is_dir, kRuleReceiver, d, /*ignore_perishable=*/true) < 0;
    if (kept && kept_there && f.Check(path, is_dir, kRuleSender, d) < 0) return false;
    using P = Entry::Protection;
    *prot = kept ? (kept_there ? P::Always : P::UnlessParentDeleted) : (kept_there ? P::WhenParentDeleted : P::None);
    return true;
  }

  // path_ holds the child's relative path. Lists it; returns an fd when it is a directory
  // to descend into.
  Descend VisitChild(int dirfd, const char* name, std::string_view name_sv, uint8_t dtype, Pick* pick) {
    if (!opts_.temp_prefix.empty() && name_sv.starts_with(opts_.temp_prefix)) {
      if (opts_.collect_temps && summary_.stale_temps.size() < kMaxStaleTemps) summary_.stale_temps.push_back(path_);
      return {};
    }
    const Pick parent_pick = *pick;
    // A link to follow is picked and matched as what it points to, known only once stat'ed.
    bool typed = dtype != DT_UNKNOWN && !(opts_.follow_links && dtype == DT_LNK);
    if (typed && !Picked(dtype == DT_DIR, pick)) return {};
    // Untyped, it is still not stat'ed (nor a link followed) when the list takes it as
    // neither: rsync never looks at a name its list does not lead to.
    if (!typed && list_ && list_->PickChild(parent_pick, path_, false) == Pick::Out &&
        list_->PickChild(parent_pick, path_, true) == Pick::Out)
      return {};
    // d_type lets an excluded entry cost no syscall at all.
    bool prefiltered = filtering_ && typed;
    Entry::Protection protection = Entry::Protection::None;
    if (prefiltered && !Listed(path_, dtype == DT_DIR, &protection)) return Excluded(dtype == DT_DIR);

    Found found;
    if (!StatChild(dirfd, name, found)) {
      MetListed();  // met, and reported (or excluded) as such: not "listed but missing" too
      return {};
    }
    const struct statx& st = found.st;
    EntryType type;
    if (!TypeOf(st.stx_mode, &type)) {
      problems_.Fail(path_, "skipping " + path_ + ": unsupported file type");
      return {};
    }
    bool is_dir = type == EntryType::Dir;
    bool retyped = !typed || is_dir != (dtype == DT_DIR);  // d_type was unknown, a link, or stale
    if (retyped && !Picked(is_dir, &(*pick = parent_pick))) return {};
    if (filtering_ && (!prefiltered || retyped) && !Listed(path_, is_dir, &protection)) return Excluded(is_dir);

    Entry e;
    e.path = path_;
    e.protection = protection;
    FillFromStat(st, type, &e);
    if (Skipped(e.dev, e.ino)) return {};
    if (int err = ReadXattrsOf(found.Target(dirfd, name), e); err != 0) {
      // Listed without them, the entry would have its attributes stripped in DST.
      if (err == E2BIG)
        problems_.Fail(path_, "skipping " + path_ + ": its extended attributes exceed ktsync's limits (" +
                                  std::to_string(kMaxXattrCount) + " names, " + std::to_string(kMaxXattrBytes) +
                                  " bytes in all)");
      else
        Report(err, "read extended attributes of", err == ENOENT);
      return {};
    }
    if (type != EntryType::Symlink) ReadFakeStat(found.Target(dirfd, name), e);
    if (type == EntryType::Symlink) {
      if (!ReadLink(dirfd, name, e)) return {};
    } else if (is_dir) {
      // A followed link's directory is opened through the fd its stat came from.
      return found.referent ? VisitDir(found.referent.get(), ".", std::move(e), *pick)
                            : VisitDir(dirfd, name, std::move(e), *pick);
    }
    Push(std::move(e));
    return {};
  }

  // The filter excludes the entry at path_ whatever its type: what it is need not be known.
  bool ExcludedAsEither() const {
    Entry::Protection unused;
    return filtering_ && !Listed(path_, false, &unused) && !Listed(path_, true, &unused);
  }

  // Stats the child at path_ (with follow_links, a symlink's referent). Reports why not and
  // returns false when it cannot be listed. A link that cannot be followed is not reported
  // when the filter excludes it either way (rsync checks its excludes before complaining).
  bool StatChild(int dirfd, const char* name, Found& f) {
    if (::statx(dirfd, name, kStatFlags, kStatxMask, &f.st) != 0) {
      int err = errno;
      Report(err, "stat", err == ENOENT);
      return false;
    }
    if (!opts_.follow_links || !S_ISLNK(f.st.stx_mode)) return true;
    f.referent.reset(::openat(dirfd, name, O_PATH | O_CLOEXEC));  // follows the whole chain
    if (!f.referent || ::statx(f.referent.get(), "", AT_EMPTY_PATH, kStatxMask, &f.st) != 0) {
      int err = errno;
      if (ExcludedAsEither()) {
        MetBeneath();  // as Excluded() does for a directory: whatever it lists is left out
        return false;
      }
      if (err == ENOENT)
        problems_.Fail(path_, "symlink has no referent: \"" + path_ + "\"");  // rsync's words
      else
        Report(err, "follow symlink", false);
      return false;
    }
    return true;
  }

  // Opens `name` in `parent_fd` as the directory `e` describes.
  Descend VisitDir(int parent_fd, const char* name, Entry e, Pick pick) {
    if (std::optional<size_t> depth = opts_.follow_links ? LoopAncestor(walk_ids_, {e.dev, e.ino}) : std::nullopt) {
      std::string ancestor = *depth == 0 ? "the root of the tree" : "\"" + path_.substr(0, stack_[*depth].path_len) + "\"";
      problems_.Fail(path_, "skipping " + path_ + ": it leads back to " + ancestor +
                                ", a directory it is in (a symlink loop; -L follows each directory once per path)");
      return {};
    }
    UniqueFd fd;
    e.contents_skipped = opts_.one_file_system && e.dev != root_dev_;
    if (e.contents_skipped) {
      if (summary_.mounts_skipped++ < kMountsNamed) summary_.first_mounts_skipped.push_back(e.path);
      MetBeneath();  // left out with the mount point, which the -x warning names: not missing
    }
    if (pick == Pick::Alone) e.contents_skipped = true;  // listed without its contents
    e.contents_partial = !e.contents_skipped && pick == Pick::Partial;
    if (!e.contents_skipped) {
      fd.reset(::openat(parent_fd, name, kOpenDirFlags));
      if (!fd) {
        int err = errno;
        // Gone, or swapped for a non-directory since the stat: the directory we saw vanished.
        bool gone = err == ENOENT || err == ENOTDIR || err == ELOOP;
        Report(err, "open", gone);
        if (gone) return {};  // otherwise still listed: its own metadata is known
      }
    }
    if (fd) {
      // A bad rule file: the directory is listed, its contents are not, and (as beneath a
      // mount point) what DST holds there is left alone, never deleted.
      if (std::string why = LoadDirRules(fd.get(), stack_.size()); !why.empty()) {
        problems_.Fail(path_, "not listing the contents of " + path_ + ": " + why);
        MetBeneath();  // that failure names them: they are not missing
        e.contents_skipped = true;
        e.contents_partial = false;
        fd.reset();
      }
    }
    InodeId id{e.dev, e.ino};
    Push(std::move(e));
    return {std::move(fd), id};
  }

  bool ReadLink(int dirfd, const char* name, Entry& e) {
    if (link_buf_.size() < PATH_MAX) link_buf_.resize(PATH_MAX);
    for (;;) {
      ssize_t n = ::readlinkat(dirfd, name, link_buf_.data(), link_buf_.size());
      if (n < 0) {
        int err = errno;
        // EINVAL: no longer a symlink, i.e. the one we stat'ed vanished.
        Report(err, "readlink", err == ENOENT || err == EINVAL);
        return false;
      }
      if (static_cast<size_t>(n) < link_buf_.size()) {
        e.set_link_target(std::string(link_buf_.data(), static_cast<size_t>(n)));
        return true;
      }
      link_buf_.resize(link_buf_.size() * 2);  // possibly truncated: retry larger
    }
  }

  // 0, E2BIG (over the limits in xattrs.h) or the errno of the failed read; a filesystem
  // without extended attributes has none to read.
  int ReadXattrsOf(const XattrTarget& t, Entry& e) {
    if (opts_.xattr_classes == 0) return 0;
    Xattrs xs;
    int err = ReadXattrs(t, opts_.xattr_classes, &xs);
    e.set_xattrs(std::move(xs));
    return err == ENOTSUP ? 0 : err;
  }

  // --fake-super: the entry as its stored metadata describes it (fake_super.h). Symlinks
  // cannot hold one; a missing or malformed value leaves the entry as it is on disk, which
  // then differs from SRC, so the run writes a good one.
  void ReadFakeStat(const XattrTarget& t, Entry& e) {
    if (!opts_.fake_super) return;
    StripFakeStat(e);
    char value[96];
    ssize_t n = t.Get(kFakeSuperXattr, value, sizeof value);
    if (n > 0) ApplyFakeStat(std::string_view(value, static_cast<size_t>(n)), e);
  }

  bool Skipped(uint64_t dev, uint64_t ino) const {
    for (const auto& [d, i] : opts_.skip_inodes)
      if (d == dev && i == ino) return true;
    return false;
  }

  void Push(Entry e) {
    if (e.type == EntryType::File) {
      ++summary_.files;
      summary_.bytes += e.size;
      if (opts_.hard_links && e.nlink > 1) {
        auto [it, fresh] = leaders_.try_emplace(InodeId{e.dev, e.ino}, emitted_);
        if (!fresh) e.link_leader = it->second;
        if (fresh && opts_.follow_links) e.nlink = kLinksUnbounded;
      }
    } else if (e.type == EntryType::Dir) {
      ++summary_.dirs;
    }
    ++summary_.entries;
    Emit(std::move(e));
  }

  // Every entry the sink gets, Hidden markers too: their ordinals (link_leader) count them all.
  void Emit(Entry e) {
    ++emitted_;
    sink_.Add(std::move(e));
  }

  void Report(int err, const char* op, bool vanished) {
    std::string msg = ErrnoMessage(std::string(op) + " " + path_, err);
    if (vanished)
      problems_.Vanish(path_, std::move(msg));
    else
      problems_.Fail(path_, std::move(msg));
  }

  const ScanOptions& opts_;
  Problems& problems_;
  ScanSink& sink_;
  const bool filtering_;
  const FileList* const list_;
  std::vector<bool> met_;  // with list_: which listed paths the walk met
  ScanSummary summary_;
  int64_t emitted_ = 0;  // entries handed to the sink so far: the next one's ordinal
  uint64_t root_dev_ = 0;
  std::string path_;  // relative path of the entry being visited
  std::vector<Frame> stack_;
  std::vector<InodeId> walk_ids_;  // walk_ids_[d]: the directory at stack_[d]
  std::deque<DirListing> levels_;  // levels_[d]: names of the directory at stack_[d]
  std::vector<char> dents_;
  std::string link_buf_;
  std::unordered_map<InodeId, int64_t, InodeIdHash> leaders_;
  std::optional<DirRules> dir_rules_;  // when the filter has dir-merge rules
  std::optional<StatAhead> ahead_;  // last: stops (and joins) before the rest goes
};

}  // namespace

std::optional<size_t> LoopAncestor(std::span<const InodeId> walk_path, InodeId dir) {
  for (size_t d = 0; d < walk_path.size(); ++d)
    if (walk_path[d] == dir) return d;
  return std::nullopt;
}

std::string SkippedMountsWarning(const ScanSummary& summary, std::string_view tree) {
  if (summary.mounts_skipped == 0) return "";
  std::string names;
  for (const std::string& p : summary.first_mounts_skipped) names += (names.empty() ? "" : ", ") + p;
  if (summary.mounts_skipped > summary.first_mounts_skipped.size())
    names += " and " + std::to_string(summary.mounts_skipped - summary.first_mounts_skipped.size()) + " more";
  return std::string(tree) + " has " + std::to_string(summary.mounts_skipped) + " mount point" +
         (summary.mounts_skipped == 1 ? "" : "s") + " whose contents were not mirrored (-x, the default): " + names +
         "; --cross-filesystems mirrors them";
}

ScanSummary ScanTree(int root_dirfd, const ScanOptions& opts, Problems& problems, ScanSink& sink,
                     std::string_view root_name) {
  return Scanner(opts, problems, sink).Run(root_dirfd, root_name);
}

ScanResult ScanTree(int root_dirfd, const ScanOptions& opts, Problems& problems, std::string_view root_name) {
  struct Collect : ScanSink {
    Manifest* out;
    void Add(Entry e) override { out->push_back(std::move(e)); }
  } collect;
  ScanResult r;
  collect.out = &r.entries;
  r.summary = ScanTree(root_dirfd, opts, problems, collect, root_name);
  return r;
}

}  // namespace ktsync
