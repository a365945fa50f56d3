#include "cli/out_format.h"

#include <algorithm>

#include "cli/itemize.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr std::string_view kKnownEscapes = "nfilLbotpM";

std::string Pad(std::string s, int width) {
  size_t w = static_cast<size_t>(width < 0 ? -width : width);
  if (s.size() >= w) return s;
  std::string fill(w - s.size(), ' ');
  return width < 0 ? s + fill : fill + s;
}

// rsync's %f: the tree's argument and the name joined, no trailing '/'.
std::string FullName(const std::string& root, const ItemView& item) {
  std::string base = root;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (item.path.empty()) return EscapeItemName(base);
  return EscapeItemName(base == "/" ? base + item.path : base + "/" + item.path);
}

}  // namespace

bool VerboseShows(const ItemView& item) {
  // A type change shows as the new entry's line; its removal is no deletion of the name
  // (what was beneath a replaced directory is: rsync prints those).
  return !ItemIsSilent(item) && item.kind != ActionKind::MetaOnly && !ItemMakesRoom(item);
}

std::string LogTime(std::time_t t) {
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y/%m/%d %H:%M:%S", &tm);
  return buf;
}

std::string ModTime(std::time_t t) {
  std::string s = LogTime(t);
  std::replace(s.begin(), s.end(), ' ', '-');
  return s;
}

OutFormat OutFormat::Parse(std::string_view format, std::string_view option) {
  OutFormat f;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      if (f.pieces_.empty() || f.pieces_.back().escape != 0) f.pieces_.push_back({});
      f.pieces_.back().text += format[i];
      continue;
    }
    size_t start = i++;
    bool left = i < format.size() && format[i] == '-';
    if (left) ++i;
    int width = 0;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9' && width < 1000) width = width * 10 + (format[i++] - '0');
    if (i < format.size() && format[i] == '%' && i == start + 1) {
      f.pieces_.push_back({0, "%", 0});
      continue;
    }
    if (i >= format.size() || kKnownEscapes.find(format[i]) == std::string_view::npos) {
      std::string seen(format.substr(start, i < format.size() ? i - start + 1 : i - start));
      throw Error(ExitCode::Usage, std::string(option) + ": '" + seen +
                                       "' is not an escape ktsync knows (it has %n %f %i %l %L %b %o %t %M %p %%)");
    }
    f.itemizes_ = f.itemizes_ || format[i] == 'i';
    f.names_deletions_ = f.names_deletions_ || format[i] == 'i' || format[i] == 'o';
    f.pieces_.push_back({format[i], "", left ? -width : width});
  }
  return f;
}

std::string OutFormat::Line(const ItemView& item, const ItemContext& ctx) const {
  // A type change's removal of the old entry prints nothing, with %i too (rsync's): the new
  // entry's line shows it.
  if (ItemIsSilent(item) || ItemMakesRoom(item) || (!itemizes_ && !VerboseShows(item))) return "";
  if (!names_deletions_ && IsDeletion(item.kind)) return "deleting " + ItemName(item);
  std::string out;
  for (const Piece& p : pieces_) out += p.escape ? Pad(Expand(p, item, ctx), p.width) : p.text;
  return out;
}

std::string OutFormat::Expand(const Piece& p, const ItemView& item, const ItemContext& ctx) const {
  switch (p.escape) {
    case 'n': return ItemName(item);
    case 'L': return ItemLinkSuffix(item);
    case 'f': return FullName(IsDeletion(item.kind) || ctx.pull ? ctx.dst_root : ctx.src_root, item);
    case 'i': return ItemizeCode(item, ctx.push);
    case 'l': return std::to_string(item.type == EntryType::Symlink ? item.target.size() : item.size);
    case 'b': return std::to_string(item.kind == ActionKind::SendFile ? item.size : 0);
    case 'o': return IsDeletion(item.kind) ? "del." : ctx.pull ? "recv" : "send";
    case 't': return LogTime(ctx.now);
    case 'M': return ModTime(item.mtime);
    case 'p': return std::to_string(ctx.pid);
  }
  return "";
}

}  // namespace ktsync
