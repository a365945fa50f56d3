// FileList: rsync's --files-from (issue 15). The list names the entries of SRC a run takes,
// relative to SRC; the scan (scan.h) asks Pick() about each entry it meets. Pure: no I/O.
//
// Parsing, as rsync reads the list: one path per line ('\n', '\r' or "\r\n" end a line), or
// NUL-separated with --from0. Without --from0, empty lines and lines starting with '#' or
// ';' are comments. Spaces are part of a path. Leading '/'s and "./" components are dropped,
// repeated '/'s are one; a trailing '/' (or "." alone, the root) names a directory whose
// contents are taken too, one level deep (rsync's -d). Refused, naming the line: a ".."
// component (a listed path stays beneath SRC; rsync resolves it lexically), and a "." one
// after the start ("d/./f" is rsync -R's marker that DST gets "f": a mirror keeps paths).
//
// Picking, as rsync -R (implied) and -d (implied) pick: a listed entry is taken; its parent
// directories are taken ("implied") with only the listed entries beneath them, so what DST has
// beside those is kept; a listed directory is taken alone, its contents untouched in DST,
// unless it was listed with a trailing '/' (its children are taken, DST's other children
// deleted) or the run is recursive (-r given explicitly: everything beneath it is taken,
// DST's extras deleted, as rsync -r --files-from --delete does).
//
// Bounds: the list is held sorted in memory (kMaxListedPaths paths, kMaxListBytes bytes in
// all); lookups are binary searches, so a walk costs O(log n) per entry it meets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ktsync {

inline constexpr size_t kMaxListedPaths = 4'000'000;
inline constexpr size_t kMaxListBytes = size_t{1} << 30;
// A daemon holds a pull's list for a client it does not trust with its memory (per session,
// before anything is sent): far less. An ssh server runs as its user and takes what the
// client's own reading takes.
inline constexpr size_t kMaxDaemonListedPaths = 1'000'000;
inline constexpr size_t kMaxDaemonListBytes = size_t{64} << 20;
inline constexpr size_t kMaxListedPathBytes = 4096;  // Linux's PATH_MAX

struct ListedPath {
  std::string path;       // normalized, relative; "" is SRC's root
  bool contents = false;  // listed with a trailing '/' (or "."): its children are taken too
};

// Throws Error(ExitCode::Usage) naming `label` and the line of a path with a ".." component,
// or a list beyond the bounds above.
std::vector<ListedPath> ParseFileList(std::string_view text, bool from0, std::string_view label);

// Normalizes one listed name (see above); returns why it is refused ("" when it is not): a
// ".." component, or a "." one after the start. "" after normalizing is SRC's root, taken
// with its contents.
std::string NormalizeListedPath(std::string_view raw, ListedPath* out);

class FileList {
 public:
  // How a walk treats one entry (and, for a directory, what lies beneath it).
  enum class Pick : uint8_t {
    Out,      // not taken; a directory is not descended
    Alone,    // taken; a directory is not descended (Entry::contents_skipped)
    Partial,  // a directory taken for listed entries beneath it: only they are taken
              // (Entry::contents_partial: DST's other children are kept)
    Whole,    // a directory whose children are all taken (deeper too when recursive)
  };

  FileList() = default;
  // Sorts and merges `paths` (a path listed twice is taken once; with a trailing '/' once
  // is enough for `contents`).
  FileList(std::vector<ListedPath> paths, bool recursive);

  // The root's pick (Partial unless the list names "." or "/").
  Pick RootPick() const;
  // The pick of the entry at `path` (relative, not ""), whose parent directory's pick was
  // `parent` (never Out or Alone: those are not descended).
  Pick PickChild(Pick parent, std::string_view path, bool is_dir) const;

  size_t size() const { return paths_.size(); }
  const std::vector<ListedPath>& paths() const { return paths_; }  // sorted, merged
  const std::string& path(size_t i) const { return paths_[i].path; }
  // The index of listed `path`, or size() when it is not listed.
  size_t Find(std::string_view path) const;
  // The indices [first, second) of the listed paths strictly beneath directory `dir`.
  std::pair<size_t, size_t> Beneath(std::string_view dir) const;
  bool recursive() const { return recursive_; }

 private:

  std::vector<ListedPath> paths_;  // bytewise order: a directory's descendants are contiguous
  bool recursive_ = false;
};

}  // namespace ktsync
