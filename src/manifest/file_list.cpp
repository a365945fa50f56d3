#include "manifest/file_list.h"

#include <algorithm>

#include "util/error.h"

namespace ktsync {

std::string NormalizeListedPath(std::string_view raw, ListedPath* out) {
  out->path.clear();
  out->contents = raw.ends_with('/');
  size_t at = 0;
  while (at <= raw.size()) {
    size_t end = raw.find('/', at);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view part = raw.substr(at, end - at);
    at = end + 1;
    if (part == "..") return "has a '..' component (listed paths must stay beneath SRC)";
    // rsync -R reads "dir/./rest" as "rest, found in dir": DST would get another path than
    // SRC's, which a mirror never does.
    if (part == "." && !out->path.empty())
      return "has a '.' component after its start (rsync's -R marker for a shorter DST path; list the path whole)";
    if (part.empty() || part == ".") continue;
    if (!out->path.empty()) out->path += '/';
    out->path.append(part);
  }
  if (out->path.empty()) out->contents = true;  // "." or "/": SRC's root, with its contents
  return "";
}

std::vector<ListedPath> ParseFileList(std::string_view text, bool from0, std::string_view label) {
  std::vector<ListedPath> out;
  size_t line = 0;
  size_t bytes = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = from0 ? text.find('\0', at) : text.find_first_of("\r\n", at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(at, end - at);
    // "\r\n" is one line end; a lone '\r' ends a line too, as in rsync.
    bool crlf = !from0 && end + 1 < text.size() && text[end] == '\r' && text[end + 1] == '\n';
    at = end + (crlf ? 2 : 1);
    ++line;
    if (item.empty() || (!from0 && (item[0] == '#' || item[0] == ';'))) continue;
    ListedPath p;
    if (std::string why = NormalizeListedPath(item, &p); !why.empty())
      throw Error(ExitCode::Usage,
                  std::string(label) + " line " + std::to_string(line) + ": '" + std::string(item) + "' " + why);
    if (p.path.size() > kMaxListedPathBytes)
      throw Error(ExitCode::Usage, std::string(label) + " line " + std::to_string(line) + ": a path longer than " +
                                       std::to_string(kMaxListedPathBytes) + " bytes");
    bytes += p.path.size();
    if (out.size() == kMaxListedPaths || bytes > kMaxListBytes)
      throw Error(ExitCode::Usage, std::string(label) + ": more than " + std::to_string(kMaxListedPaths) +
                                       " paths or 1 GiB of names (ktsync holds the list in memory)");
    out.push_back(std::move(p));
  }
  return out;
}

FileList::FileList(std::vector<ListedPath> paths, bool recursive) : paths_(std::move(paths)), recursive_(recursive) {
  auto by_path = [](const ListedPath& a, const ListedPath& b) { return a.path < b.path; };
  // A server's list arrives sorted (FileListDecoder checks it): sorted once, on the client.
  if (!std::is_sorted(paths_.begin(), paths_.end(), by_path)) std::sort(paths_.begin(), paths_.end(), by_path);
  // Merge duplicates: one with a trailing '/' makes the merged one take the contents.
  size_t kept = 0;
  for (size_t i = 0; i < paths_.size(); ++i) {
    if (kept > 0 && paths_[kept - 1].path == paths_[i].path) {
      paths_[kept - 1].contents = paths_[kept - 1].contents || paths_[i].contents;
      continue;
    }
    if (kept != i) paths_[kept] = std::move(paths_[i]);
    ++kept;
  }
  paths_.resize(kept);
}

size_t FileList::Find(std::string_view path) const {
  auto it = std::lower_bound(paths_.begin(), paths_.end(), path,
                             [](const ListedPath& a, std::string_view b) { return a.path < b; });
  return it != paths_.end() && it->path == path ? static_cast<size_t>(it - paths_.begin()) : paths_.size();
}

std::pair<size_t, size_t> FileList::Beneath(std::string_view dir) const {
  auto at = [this](const std::string& key) {
    auto less = [](const ListedPath& a, const std::string& b) { return a.path < b; };
    return static_cast<size_t>(std::lower_bound(paths_.begin(), paths_.end(), key, less) - paths_.begin());
  };
  if (dir.empty()) {
    size_t first = !paths_.empty() && paths_[0].path.empty() ? 1 : 0;  // the root is not beneath itself
    return {first, paths_.size()};
  }
  // Bytewise order keeps the paths that start with "dir/" in one run: from "dir/" up to
  // "dir0" ('0' follows '/').
  std::string key = std::string(dir) + '/';
  size_t first = at(key);
  key.back() = '/' + 1;
  return {first, at(key)};
}

FileList::Pick FileList::RootPick() const {
  size_t i = Find("");
  return i < paths_.size() ? Pick::Whole : Pick::Partial;
}

FileList::Pick FileList::PickChild(Pick parent, std::string_view path, bool is_dir) const {
  if (parent == Pick::Whole && recursive_) return is_dir ? Pick::Whole : Pick::Alone;
  size_t i = Find(path);
  bool taken = i < paths_.size() || parent == Pick::Whole;  // listed, or a child of a listed "dir/"
  if (!is_dir) return taken ? Pick::Alone : Pick::Out;
  if (i < paths_.size() && (recursive_ || paths_[i].contents)) return Pick::Whole;
  if (auto [first, last] = Beneath(path); first != last) return Pick::Partial;
  return taken ? Pick::Alone : Pick::Out;
}

}  // namespace ktsync
