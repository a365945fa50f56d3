// Filter: rsync's filter rules (filter_rule.h) compiled once and matched as rsync 3 matches
// them (exclude.c's rule_matches, lib/wildmatch.c), so one rule list selects the same entries
// in ktsync and in rsync; tests/e2e/filter_oracle_test.sh holds it to that. Pure: no I/O.
//
// Rules are tried in order; the first whose pattern matches decides, and a path no rule
// matches is included. Patterns (rsync's "PATTERN MATCHING RULES"):
//   *      any run of bytes except '/'       **   anything, '/' included
//   ?      one byte except '/'               [..] class: ranges, '!'/'^' negation, [:alpha:]
//   \c     the byte c literally (only in a pattern that has wildcards, as in rsync)
//   /pat   anchored at the transfer root     pat/  matches directories only
//   dir/*** the directory and everything below it
// A pattern without '/' (a trailing one aside) or "**" matches the last path component; one
// with '/' and no "**" matches the last components ("b/c" matches "a/b/c", not "ab/c"); one
// with "**" is tried at the start and after every '/', and a leading "**" also matches the
// top level ("**/b" matches "b", but "a/**/b" does not match "a/b", nor "/**/b" "b").
//
// Sides: a rule applies to the sending side (which SRC entries are listed), the receiving
// side (which DST entries are protected from deletion), or both, the default, which
// --delete-excluded turns into sending side only. Per-directory rules (dir-merge) are kept
// by a DirRules that the walk updates as it descends.
//
// Stricter than rsync, on purpose: an unterminated '[', an unknown [:class:] or a trailing
// '\' is an error (rsync silently never matches such a pattern).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/filter_rule.h"

namespace ktsync {

class DirRules;

class Filter {
 public:
  Filter() = default;
  // Throws Error(ExitCode::Usage) naming a malformed pattern. abs_root: the tree's absolute
  // path, for rules with the '/' modifier ("" leaves them matching the relative path).
  explicit Filter(const std::vector<FilterRule>& rules, bool delete_excluded = false, std::string_view abs_root = {});

  bool empty() const { return compiled_.empty(); }
  // Sender and receiver always agree: no rule names a side or is perishable, no per-
  // directory files, no --delete-excluded. A receiver may then skip what is excluded.
  bool symmetric() const { return symmetric_; }
  bool has_dir_merge() const { return !merges_.empty(); }
  const std::vector<FilterRule>& dir_merges() const { return merges_; }

  // +1: a rule includes the path; -1: a rule excludes it; 0: no rule matched (included).
  // side: kRuleSender or kRuleReceiver. rel_path: relative, "" is the root (never matched).
  int Check(std::string_view rel_path, bool is_dir, uint16_t side, const DirRules* dir_rules = nullptr,
            bool ignore_perishable = false) const;
  bool Excluded(std::string_view rel_path, bool is_dir, uint16_t side = kRuleSender,
                const DirRules* dir_rules = nullptr) const {
    return Check(rel_path, is_dir, side, dir_rules) < 0;
  }

  // A rule digested once, so Check() does no parsing per path (rsync's filter_rule flags).
  struct Compiled {
    bool include = false;
    bool negate = false;
    bool perishable = false;
    bool dir_only = false;      // trailing '/'
    bool anchored = false;      // leading '/' (not in pat)
    bool abs_path = false;      // '/' modifier: matched against the absolute path
    bool relative_to_dir = false;  // anchored, from a per-directory file: its directory is the root
    bool wild = false;          // has * ? [ (else compared literally, backslashes too)
    bool wild2 = false;         // has "**"
    bool wild2_prefix = false;  // starts with "**"
    bool wild3_suffix = false;  // ends with "***"
    uint16_t sides = 0;
    int slash_cnt = 0;          // '/'s in the pattern, the leading one included
    int slot = -1;              // a dir-merge rule: index into merges_
    std::string pat;            // without the leading '/' and trailing '/'
  };
  // Compiles one include/exclude rule; exposed for DirRules.
  static Compiled Compile(const FilterRule& rule, bool delete_excluded);
  bool delete_excluded() const { return delete_excluded_; }

 private:
  std::vector<Compiled> compiled_;
  std::vector<FilterRule> merges_;  // the dir-merge rules, by slot
  std::string abs_root_;            // without its leading '/'
  bool delete_excluded_ = false;
  bool symmetric_ = true;
  friend class DirRules;
  static bool Matches(const Compiled& c, std::string_view path, bool is_dir, std::string_view abs_root);
};

// The per-directory rules in effect at one point of a walk: for each dir-merge rule, the
// rules of the files found in the directories along the current path, deepest first.
class DirRules {
 public:
  explicit DirRules(const Filter& f);

  // Returns the text of the file `name` in the directory being entered, nullopt if absent.
  using ReadFn = std::function<std::optional<std::string>(const std::string& name)>;
  // The walk enters `dir` (relative path, "" the root) at `depth` (root 0): its merge files'
  // rules apply beneath it. Throws Error naming the file when one is malformed.
  void Enter(std::string_view dir, size_t depth, const ReadFn& read);
  // Rules of dir-merge rule `slot`'s file in a directory above the root (rsync's
  // "dir-merge /.f" reads the parents' too): `dir` names it in messages, `above` is the
  // root's path relative to it.
  void EnterAbove(size_t slot, std::string_view dir, std::string above, const ReadFn& read);
  // The walk is done with every directory at `depth` or deeper.
  void Leave(size_t depth);

  int Check(int slot, std::string_view path, bool is_dir, uint16_t side, bool ignore_perishable) const;

 private:
  struct Level {
    size_t depth = 0;
    std::string dir;    // relative path of the directory holding the file
    std::string above;  // for a file above the root: the root's path relative to it
    bool inherit = true;
    bool clears = false;
    std::vector<Filter::Compiled> rules;
  };
  void Load(size_t slot, Level level, std::string_view dir, const ReadFn& read);

  const Filter& filter_;
  std::vector<std::vector<Level>> slots_;
  std::vector<std::string> names_;  // by slot: the file each dir-merge rule looks for
};

}  // namespace ktsync
