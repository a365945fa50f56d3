// OutFormat: rsync's --out-format / --log-file-format templates, and -v's choice of changes.
//
// A template is text with %-escapes, each optionally padded like rsync's ("%-10n" left-
// aligns in 10 columns, "%10l" right-aligns):
//   %n  name as itemize lines show it (directories end in '/')   %L  " -> target" / " => leader"
//   %f  the name with the tree's argument in front as given, no trailing '/' (SRC's; DST's
//       for a pull's and for deletions, which happen there: a push's read "host:/dst/name")
//   %i  itemize code    %l  file size (a symlink's: its target's length; a directory's: 0)
//   %b  bytes of file data sent (the size for a sent file, else 0; rsync counts its protocol too)
//   %o  operation: "send" (local, push), "recv" (pull), "del." (deletions)
//   %t  local time "YYYY/MM/DD HH:MM:SS"    %p  process id    %%  a '%'
//   %M  the entry's mtime, local, "YYYY/MM/DD-HH:MM:SS" (a deletion's: the epoch, as rsync's)
// Other escapes (rsync's %u %g %U %G %B %c %C %a %h %m %P, or typos) are refused when the
// template is parsed: one usage error naming the escape.
//
// Which changes are shown (rsync's rule): a template with %i shows every change, like -i;
// one without it shows what -v shows (VerboseShows). Neither shows a type change's removal
// of the old entry (ItemMakesRoom): the new entry's line shows the change. Deletions are "deleting NAME" unless
// the template has %i or %o (then it is used, with "*deleting  " and "del.").
//
// Pure (the time and pid come in); tested in tests/out_format_test.cpp.
#pragma once

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/plan.h"

namespace ktsync {

// What a template needs besides the change itself.
struct ItemContext {
  bool push = false;     // '<' in itemize codes
  bool pull = false;     // %o is "recv"
  std::string src_root;  // SRC and DST as the user wrote them, for %f (a remote one with
                         // its "host:" or "ktsync://" prefix: a push's deletions show it)
  std::string dst_root;
  std::time_t now = 0;   // %t
  long pid = 0;          // %p
};

// -v's rule, rsync's: files that are sent, new entries, directories whose own attributes
// changed, deletions; not a file whose attributes alone changed, nor the entry a type
// change replaces (ItemMakesRoom).
bool VerboseShows(const ItemView& item);

// "YYYY/MM/DD HH:MM:SS" in local time (rsync's %t and log-file prefix).
std::string LogTime(std::time_t t);
// "YYYY/MM/DD-HH:MM:SS" in local time (rsync's %M).
std::string ModTime(std::time_t t);

class OutFormat {
 public:
  // Throws Error(ExitCode::Usage) naming `option` and the first escape it does not know.
  static OutFormat Parse(std::string_view format, std::string_view option);

  // The line (without newline) for a change, or "" when this template does not show it.
  std::string Line(const ItemView& item, const ItemContext& ctx) const;

 private:
  struct Piece {
    char escape = 0;  // 0: literal text
    std::string text;
    int width = 0;    // < 0: left-aligned
  };
  std::string Expand(const Piece& p, const ItemView& item, const ItemContext& ctx) const;

  std::vector<Piece> pieces_;
  bool itemizes_ = false;        // has %i
  bool names_deletions_ = false;  // has %i or %o
};

}  // namespace ktsync
