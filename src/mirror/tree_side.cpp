#include "mirror/tree_side.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apply/temp_name.h"
#include "manifest/scan.h"
#include "store/hash_fill.h"
#include "store/state_dir.h"
#include "util/error.h"
#include "util/open_beneath.h"

namespace ktsync {
namespace {

UniqueFd OpenDirOrThrow(const std::string& path, const std::string& role) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) return fd;
  int err = errno;
  if (err == ENOTDIR)
    throw Error(ExitCode::SelectFiles, role + " " + path + " is not a directory: ktsync mirrors directories");
  throw SysError(role + " " + path, err, ExitCode::SelectFiles);
}

}  // namespace

TreeSide TreeSide::OpenSource(const std::string& path, const TreeConfig& cfg, WarnFn warn) {
  TreeSide t;
  t.name_ = path;
  t.cfg_ = cfg;
  t.root_ = OpenDirOrThrow(path, "SRC");
  t.follow_links_ = cfg.copy_links;
  t.abs_path_ = CanonicalRoot(path);
  t.BuildFilter(kRuleSender, true);
  t.OpenStore(std::move(warn));
  return t;
}

TreeSide TreeSide::OpenDest(const std::string& path, const TreeConfig& cfg, bool dry_run, WarnFn warn) {
  TreeSide t;
  t.name_ = path;
  t.cfg_ = cfg;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw SysError("DST " + path, errno, ExitCode::SelectFiles);
    if (dry_run) {
      t.abs_path_ = path;
      t.BuildFilter(kRuleReceiver, false);
      t.store_.emplace(HashStore::InMemory());
      return t;
    }
    // Like rsync, create only the last component: a missing parent is more likely a typo.
    if (::mkdir(path.c_str(), 0755) != 0) {
      int err = errno;
      throw Error(ExitCode::SelectFiles,
                  ErrnoMessage("cannot create DST " + path, err) +
                      (err == ENOENT ? " (its parent directory must exist)" : ""));
    }
  }
  t.root_ = OpenDirOrThrow(path, "DST");
  t.abs_path_ = CanonicalRoot(path);
  t.BuildFilter(kRuleReceiver, true);
  if (!dry_run) t.lock_ = RootLock::Acquire(t.abs_path_, cfg.state_dir, warn);
  t.OpenStore(std::move(warn));
  return t;
}

TreeSide TreeSide::OpenBeneath(const std::string& root, const std::string& rel, bool as_dest, bool dry_run,
                               const TreeConfig& cfg, WarnFn warn) {
  if (!IsSafeRelativePath(rel))
    throw Error(ExitCode::SelectFiles, "path '" + rel + "' is not allowed: it must stay beneath the served root");
  UniqueFd base = OpenDirOrThrow(root, "root");
  TreeSide t;
  t.name_ = "/" + rel;
  t.cfg_ = cfg;
  t.abs_path_ = CanonicalRoot(root) + (rel.empty() ? "" : "/" + rel);
  // Per-directory filter files are read only inside the served tree, never above it, and
  // '/' rules see the path beneath the served root, not where it lies on the daemon's disk.
  t.BuildFilter(as_dest ? kRuleReceiver : kRuleSender, false, "/" + rel);
  t.follow_links_ = cfg.copy_links && !as_dest;
  t.root_ = rel.empty() ? std::move(base) : ktsync::OpenBeneath(base.get(), rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!t.root_) {
    int err = errno;
    if (err != ENOENT || !as_dest) throw SysError(t.name_, err, ExitCode::SelectFiles);
    if (dry_run) {
      t.store_.emplace(HashStore::InMemory());
      return t;
    }
    std::string parent(ParentPath(rel));
    UniqueFd pfd = parent.empty() ? UniqueFd(::dup(base.get()))
                                  : ktsync::OpenBeneath(base.get(), parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    std::string leaf(BaseName(rel));
    if (!pfd || ::mkdirat(pfd.get(), leaf.c_str(), 0755) != 0)
      throw SysError("cannot create " + t.name_ + " (its parent directory must exist)", errno,
                     ExitCode::SelectFiles);
    t.root_ = ktsync::OpenBeneath(base.get(), rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!t.root_) throw SysError(t.name_, errno, ExitCode::SelectFiles);
  }
  if (as_dest && !dry_run) t.lock_ = RootLock::Acquire(t.abs_path_, cfg.state_dir, warn);
  t.OpenStore(std::move(warn));
  return t;
}

void TreeSide::BuildFilter(uint16_t side, bool read_parent_filters, std::optional<std::string> filter_root) {
  filter_ = Filter(cfg_.filters, cfg_.delete_excluded, filter_root.value_or(abs_path_));
  filter_side_ = side;
  read_parent_filters_ = read_parent_filters;
}

void TreeSide::OpenStore(WarnFn warn) {
  store_.emplace(HashStore::Open(abs_path_, cfg_.state_dir, std::move(warn)));
}

ScanOptions TreeSide::MakeScanOptions() const {
  ScanOptions so;
  so.filter = &filter_;
  so.filter_side = filter_side_;
  if (filter_side_ == kRuleSender) so.file_list = cfg_.file_list.get();
  if (read_parent_filters_) so.abs_root = abs_path_;
  so.one_file_system = cfg_.one_file_system;
  so.hard_links = cfg_.hard_links;
  so.follow_links = follow_links_;
  so.xattr_classes = cfg_.xattr_classes;
  so.fake_super = cfg_.fake_super;
  so.collect_temps = true;
  so.temp_prefix = kTempPrefix;
  so.stat_ahead = true;
  // The cache must never be mirrored, even when the user keeps it inside the tree.
  if (auto id = StateDirId(cfg_.state_dir)) so.skip_inodes.emplace_back(id->dev, id->ino);
  return so;
}

void TreeSide::FillHashes(const std::vector<Entry*>& entries, Problems& problems) {
  if (!root_ || entries.empty()) return;
  EnsureHashes(root_.get(), entries, *store_, problems, meter_, follow_links_);
}

void TreeSide::CommitStore() { store_->Commit(); }

namespace {

// "dev:ino" of the root directory: what a mirror record is about ("" when unknown).
std::string RootId(int root_fd) {
  struct stat st{};
  if (root_fd < 0 || ::fstat(root_fd, &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

bool TreeSide::MirroredBefore() {
  std::string id = RootId(root_.get());
  return !id.empty() && store_->MirroredInto(id);
}

void TreeSide::RecordMirrored() {
  if (std::string id = RootId(root_.get()); !id.empty()) store_->MarkMirroredInto(id);
}

bool TreeSide::HasEntries() const {
  if (!root_) return false;
  UniqueFd fd(::openat(root_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* dir = fd ? ::fdopendir(fd.get()) : nullptr;
  if (!dir) return true;  // unreadable: the comparing dry run meets (and reports) it first
  fd.release();           // closedir closes it
  bool any = false;
  while (const dirent* d = ::readdir(dir)) {
    std::string_view n = d->d_name;
    if (n != "." && n != "..") {
      any = true;
      break;
    }
  }
  ::closedir(dir);
  return any;
}

}  // namespace ktsync
