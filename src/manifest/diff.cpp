#include "manifest/diff.h"

#include <string>

#include "util/error.h"

namespace ktsync {

namespace {

bool IsProperAncestor(std::string_view dir, std::string_view path) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/';
}

}  // namespace

MergeWalk::MergeWalk(EntrySource& src, EntrySource& dst) : src_(src, "source"), dst_(dst, "destination") {}

Entry* MergeWalk::Side::Head() {
  while (pos_ == batch_.entries.size()) {
    if (ended_) return nullptr;
    if (!source_.NextBatch(batch_)) {
      ended_ = true;
      batch_.entries.clear();
      batch_.first = next_ordinal_;
      pos_ = 0;
      return nullptr;
    }
    if (batch_.first != next_ordinal_) {
      throw Error(ExitCode::StreamData, std::string(name_) + " entries skip from ordinal " +
                                            std::to_string(next_ordinal_) + " to " + std::to_string(batch_.first));
    }
    pos_ = 0;
  }
  return &batch_.entries[pos_];
}

// Because entries arrive sorted and each one's parent was checked, the parent of a new
// entry was listed iff it is the previous entry or one of that entry's ancestors.
void MergeWalk::Side::Check(const Entry& e) {
  if (next_ordinal_ == 0) {
    if (!e.path.empty()) {
      throw Error(ExitCode::StreamData, std::string(name_) + " stream does not start with the root entry (first path '" +
                                            e.path + "'): refusing to plan");
    }
    if (!e.IsDir()) throw Error(ExitCode::StreamData, std::string(name_) + " root is not a directory");
  } else {
    if (ComparePaths(prev_path_, e.path) >= 0) {
      throw Error(ExitCode::StreamData, std::string(name_) + " stream is not in path order at '" + e.path +
                                            "' (after '" + prev_path_ + "'): refusing to plan");
    }
    std::string_view parent = ParentPath(e.path);
    if (parent == prev_path_ ? !prev_dir_ : !IsProperAncestor(parent, prev_path_)) {
      throw Error(ExitCode::StreamData, std::string(name_) + " entry '" + e.path +
                                            "' is not beneath a directory listed before it: refusing to plan");
    }
  }
  prev_path_ = e.path;
  prev_dir_ = e.IsDir();
}

Entry MergeWalk::Side::Take(int64_t* index) {
  Entry& e = batch_.entries[pos_++];
  Check(e);
  *index = next_ordinal_++;
  return std::move(e);
}

bool MergeWalk::Next(EntryPair& out) {
  Entry* s = src_.Head();
  Entry* d = dst_.Head();
  if (!s && !d) return false;
  int c = !s ? 1 : !d ? -1 : ComparePaths(s->path, d->path);
  out.src.reset();
  out.dst.reset();
  out.src_index = -1;
  int64_t unused;
  if (c <= 0) out.src = src_.Take(&out.src_index);
  if (c >= 0) out.dst = dst_.Take(&unused);
  return true;
}

// Ordinals are consecutive, so the index after a consumed batch is that of the next one.
int64_t MergeWalk::next_src_index() const { return src_.head_index(); }

bool PairNeedsHash(const Entry& s, const Entry& d, const PlanOptions& opts) {
  if (!s.IsFile() || !d.IsFile() || s.size != d.size) return false;
  if (opts.checksum) return true;
  return !opts.size_only && opts.hash_touched && !WithinNs(s.mtime, d.mtime, opts.mtime_tolerance_ns);
}

// As rsync: the size limits and -u concern regular files only, and -u keeps a DST file only
// when it is newer beyond --modify-window (an equal mtime with another size is updated; so
// is an entry of another type, whatever its time).
bool SkipsTransfer(const Entry& s, const Entry* d, const PlanOptions& opts) {
  if (s.IsFile() && (s.size < opts.min_size || s.size > opts.max_size)) return true;
  if (!d) return opts.existing_only;
  if (opts.ignore_existing && !(s.IsDir() && d->IsDir())) return true;
  return opts.update_only && s.IsFile() && d->IsFile() && d->mtime > s.mtime &&
         !WithinNs(s.mtime, d->mtime, opts.mtime_tolerance_ns);
}

uint16_t MetaBits(const Entry& s, const Entry& d, const PlanOptions& opts) {
  uint16_t bits = 0;
  if (opts.times && !WithinNs(s.mtime, d.mtime, opts.mtime_tolerance_ns)) bits |= kChMtime;
  if (opts.perms && s.type != EntryType::Symlink && (s.mode & 07777) != (d.mode & 07777)) {
    bits |= kChPerms;
  }
  bool owned = opts.link_owners || s.type != EntryType::Symlink;
  if (owned && opts.owner && s.uid != d.uid) bits |= kChOwner;
  if (owned && opts.group && s.gid != d.gid) bits |= kChGroup;
  uint8_t xattrs = opts.xattrs & opts.xattrs_writable;
  if (!XattrsEqualIn(s.xattrs(), d.xattrs(), xattrs & kXattrAcl)) bits |= kChAcl;
  if (!XattrsEqualIn(s.xattrs(), d.xattrs(), xattrs & kXattrPlain)) bits |= kChXattr;
  return bits;
}

ContentDiff CompareFileContent(const Entry& s, const Entry& d, const PlanOptions& opts) {
  if (s.size != d.size) return {false, kChSize};
  if (opts.size_only && !opts.checksum) return {true, 0};
  bool touched = !WithinNs(s.mtime, d.mtime, opts.mtime_tolerance_ns);
  if (touched && !opts.hash_touched && !opts.checksum) return {false, 0};  // the differing mtime says why
  if (!PairNeedsHash(s, d, opts)) return {true, 0};
  if (s.hash && d.hash && *s.hash == *d.hash) return {true, 0};
  // rsync shows 'c' only under --checksum; without it the differing mtime ('t') says why.
  return {false, static_cast<uint16_t>(opts.checksum ? kChChecksum : 0)};
}

}  // namespace ktsync
