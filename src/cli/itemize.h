// Text forms of plan actions: rsync's `--itemize-changes` lines (format "%i %n%L", so tools
// that parse rsync output parse ours) and the --json item / totals events.
//
// Pure functions over values; depends only on the manifest headers (so it is testable, and
// reusable by any printer, without the CLI or I/O layers).
//
// Itemize line: 11 characters "YXcstpoguax", a space, the escaped name.
//   Y  '<' file sent to a remote (push), '>' file received (pull, local mirror),
//      'c' local creation of a directory/symlink/special, 'h' hard link, '.' attributes only.
//      Deletions print "*deleting   name"; so does a RemoveForType of what was beneath a
//      directory that a type change replaces, but the replaced entry's own removal prints
//      nothing (ItemMakesRoom), like rsync: the new entry's line shows the change.
//   X  TypeLetter (f d L S D).
//   cstpoguax  '+++++++++' for a new entry; else the letter when that attribute differs, or
//      '.': c checksum (--checksum) or symlink target, s size, t mtime, p perms, o owner,
//      g group; u a x are always '.'.
//   name  directories end in '/' (the root is "./"), symlinks add " -> target", hard links
//      " => leader".
// Names are escaped like rsync: bytes that are control characters or not part of valid UTF-8
// become "\#ooo" (3 octal digits), and a backslash followed by '#' is escaped as "\#134" so
// the escaping can be undone unambiguously. Valid multibyte UTF-8 is printed as is.
//
// JSON: one object per line; strings escaped per RFC 8259; the root's "path" is ".". A byte that is not part of valid
// UTF-8 is written as \u00XX of that byte (its Latin-1 reading), which by itself would be
// ambiguous with the real character U+00XX; so whenever a name holds such bytes the object
// also carries "<field>_hex" (path_hex, target_hex, leader_hex): the raw bytes in lowercase
// hex, which is lossless.
#pragma once

#include <string>
#include <string_view>

#include "manifest/entry.h"
#include "manifest/plan.h"

namespace ktsync {

// True for a change that prints nothing (see ItemizeLine).
bool ItemIsSilent(const ItemView& a);
// The RemoveForType of the entry in the way of a type change (kChNew), not of what was
// beneath a directory there: rsync prints no line for it, only the new entry's.
bool ItemMakesRoom(const ItemView& a);

// The 11-character itemize code of a change ("*deleting  " for deletions).
std::string ItemizeCode(const ItemView& a, bool push);

// "code name[ -> target| => leader]" without newline, or "" when the change prints nothing:
// a DirMeta with no changes of its own (only re-applied because a child changed) or for a
// new directory (its MkDir line already shows it), or ItemMakesRoom (rsync's: a type
// change shows as the new entry's line only).
std::string ItemizeLine(const ItemView& a, bool push);

// The escaped name as itemize lines show it: directories end in '/' (the root is "./").
std::string ItemName(const ItemView& a);
// " -> target" for symlinks, " => leader" for hard links, else "" (rsync's %L).
std::string ItemLinkSuffix(const ItemView& a);

// {"event":"item","op":"send|meta|mkdir|symlink|special|hardlink|delete|remove|dirmeta",
//  "path":...,"type":"f|d|L|S|D","itemize":"<11 chars>","size":N[,"target":...]
//  [,"leader":...][,"path_hex":...]} without newline; "" exactly when ItemIsSilent (ItemMakesRoom is an
//  item, op "remove", though it has no itemize line).
// `push` only affects the itemize field of sends.
std::string ItemJson(const ItemView& a, bool push = false);

// rsync-style name escaping described above.
std::string EscapeItemName(std::string_view name);

// Contents of a JSON string literal (without the quotes), per the rules above.
std::string JsonEscape(std::string_view s);

// True when `s` is entirely valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF).
bool IsValidUtf8(std::string_view s);

// rsync --stats style lines, each ending in '\n':
//   Number of files to send: N / Total bytes to send: N / Number of entries to delete: N /
//   Number of metadata-only updates: N / Number of other changes: N
std::string TotalsText(const PlanTotals& t);

// {"event":"totals","files_to_send":N,"bytes_to_send":N,"to_delete":N,"meta_only":N,
//  "created_other":N} without newline.
std::string TotalsJson(const PlanTotals& t);

}  // namespace ktsync
