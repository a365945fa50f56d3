// Filter: rsync-style include/exclude rules over relative paths. Pure: no I/O.
//
// Rules are tried in the order added; the first rule whose pattern matches decides, and a
// path no rule matches is included. Pattern syntax follows rsync's "INCLUDE/EXCLUDE PATTERN
// RULES":
//   *      any run of bytes except '/'       **   anything, '/' included
//   ?      one byte except '/'               [..] class: ranges, '!'/'^' negation, [:alpha:]
//   \c     the byte c literally (only in a pattern that has wildcards, as in rsync)
//   /pat   anchored at the transfer root     pat/  matches directories only
//   dir/*** the directory and everything below it
// An unanchored pattern without '/' or '**' matches the last path component; one with them
// matches the end of the path at a component boundary ("b/c" matches "a/b/c", not "ab/c").
// A "**/" starting the pattern or following '/' also matches zero directories.
//
// Excluding a directory excludes its contents too: the scanner never descends into it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

struct FilterRule {
  bool include = false;
  std::string pattern;  // as the user wrote it
  bool operator==(const FilterRule&) const = default;
};

class Filter {
 public:
  // Throws Error(ExitCode::Usage) naming the pattern when it is empty or malformed
  // (unterminated '[', unknown [:class:], trailing '\').
  void Add(bool include, std::string pattern);
  void Add(const FilterRule& rule) { Add(rule.include, rule.pattern); }

  // Parses and adds the text of an --exclude-from / --include-from file (see ParseFilterText).
  void AddFromText(std::string_view text, bool default_include);

  // rel_path: relative, no leading '/', "" is the root (never excluded).
  bool Excluded(std::string_view rel_path, bool is_dir) const;

  bool empty() const { return compiled_.empty(); }
  // The rules as given, e.g. to pass them on to a remote peer.
  const std::vector<FilterRule>& rules() const { return rules_; }

  // A rule digested once at Add(), so Excluded() does no parsing per path. "dir/***"
  // becomes two: "dir/" and "dir/**".
  struct Compiled {
    bool include = false;
    bool dir_only = false;       // trailing '/'
    bool anchored = false;       // leading '/'
    bool wild = false;           // has * ? [ (else compared literally, backslashes too)
    bool double_star = false;    // has "**": may span any number of components
    bool whole_path = false;     // has '/' or "**": matched against path suffixes
    int components = 1;          // of pat, when !double_star: the suffix length to try
    std::string pat;             // without the leading '/', trailing '/' or "/***"
  };

 private:
  std::vector<FilterRule> rules_;
  std::vector<Compiled> compiled_;
};

// One pattern per line ('\n', a trailing '\r' is dropped). Blank lines and lines starting
// with '#' or ';' are ignored. "+ PAT" includes and "- PAT" excludes, like rsync; any other
// line is a rule of kind default_include. rsync's "!" (clear the list) is refused with
// Error(ExitCode::Usage) rather than silently taken as a name. Patterns are not validated
// here (Filter::Add does that).
std::vector<FilterRule> ParseFilterText(std::string_view text, bool default_include);

}  // namespace ktsync
