// Filter rules as rsync users write them ("- *.o", "+ /keep/***", "H,p cache/", ": .rsync-filter")
// parsed into values. Pure: no I/O; a merge file's text comes from the caller.
//
// Syntax (rsync's "FILTER RULES IN DEPTH"): RULE[,MODIFIERS] PATTERN, where the pattern
// follows one space or '_'. Rules: '+' include, '-' exclude, 'H' hide (sender-side
// exclude), 'S' show, 'P' protect (receiver-side exclude), 'R' risk, '!' clear the list so
// far, '.' merge (a file of more rules, read where the option is given), ':' dir-merge (a
// file looked for in every directory of the walk); long names include, exclude, hide, show,
// protect, risk, clear, merge, dir-merge. Modifiers: '/' match the absolute path, '!'
// negate, 's' sender only, 'r' receiver only, 'p' perishable; on merge rules also '+'/'-'
// (the file holds only include/exclude patterns), 'n' not inherited, 'w' word-split, 'e'
// exclude the merge file itself. rsync's 'C' (CVS rules) and 'x' (xattr names) are refused
// with a one-line error: ktsync has neither.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

enum class RuleKind : uint8_t { Include = 0, Exclude = 1, DirMerge = 2 };

// Modifier bits of a FilterRule.
inline constexpr uint16_t kRuleSender = 1 << 0;      // applies to the sending side (s, H, S)
inline constexpr uint16_t kRuleReceiver = 1 << 1;    // applies to the receiving side (r, P, R)
inline constexpr uint16_t kRuleNegate = 1 << 2;      // matches when the pattern does not
inline constexpr uint16_t kRulePerishable = 1 << 3;  // ignored inside a directory being deleted
inline constexpr uint16_t kRuleAbsPath = 1 << 4;     // matched against the absolute path
// Merge rules only: the file's lines are bare patterns (of the kind kMergeInclude says).
inline constexpr uint16_t kMergeNoPrefixes = 1 << 5;
inline constexpr uint16_t kMergeInclude = 1 << 6;
inline constexpr uint16_t kMergeNoInherit = 1 << 7;  // a directory's rules skip its subdirectories
inline constexpr uint16_t kMergeWordSplit = 1 << 8;  // whitespace separates rules, no comments
inline constexpr uint16_t kAllRuleMods = (1 << 9) - 1;
inline constexpr uint16_t kRuleSides = kRuleSender | kRuleReceiver;

struct FilterRule {
  RuleKind kind = RuleKind::Exclude;
  uint16_t mods = 0;
  std::string pattern;  // a dir-merge rule's file name
  bool operator==(const FilterRule&) const = default;
};

inline FilterRule IncludeRule(std::string pattern) { return {RuleKind::Include, 0, std::move(pattern)}; }
inline FilterRule ExcludeRule(std::string pattern) { return {RuleKind::Exclude, 0, std::move(pattern)}; }

// How an option's text is read: --filter takes full rule syntax; --include/--exclude and
// their -from files take a bare pattern with an optional "+ " or "- " prefix, and "!".
enum class RuleSyntax { Full, OldPrefixes };

// Turns the command line's filter options into the rule list a run uses: merge files are
// read in place, '!' drops the rules before it, 'e' adds an exclude of the merge file.
// Every error is Error(ExitCode::Usage) naming the rule or file and what is wrong.
class RuleListBuilder {
 public:
  // Returns a merge file's text ("-" is stdin); throws Error naming the file when unreadable.
  using ReadFile = std::function<std::string(const std::string& path)>;
  explicit RuleListBuilder(ReadFile read) : read_(std::move(read)) {}

  // One --filter, --include or --exclude argument.
  void Add(std::string_view text, RuleSyntax syntax, RuleKind bare = RuleKind::Exclude);
  // --include-from / --exclude-from FILE: one rule per line, old-style prefixes.
  void AddFile(const std::string& path, RuleKind bare);

  const std::vector<FilterRule>& rules() const { return rules_; }
  std::vector<FilterRule> Take() { return std::move(rules_); }

 private:
  ReadFile read_;
  std::vector<FilterRule> rules_;
};

// The rules of one directory's dir-merge file (`merge` is the rule that named it).
// `clears` is set when the file holds '!': the rules it inherits from parent directories
// are dropped (and those before the '!' in the file). Nested merge rules, and more than
// kMaxDirMergeRules rules, are refused.
// Errors name `file` and the line, not its text: the file may belong to someone else.
inline constexpr size_t kMaxDirMergeRules = 4096;  // each file's; more is an error (memory, time)
struct DirMergeRules {
  bool clears = false;
  std::vector<FilterRule> rules;
};
DirMergeRules ParseDirMergeFile(std::string_view text, const FilterRule& merge, const std::string& file);

// The file name a dir-merge rule looks for in each directory (its last component).
std::string_view DirMergeName(const FilterRule& merge);

// rsync's spelling of a rule, e.g. "-,p *.o" or ": .rsync-filter" (messages, tests).
std::string RuleText(const FilterRule& r);

}  // namespace ktsync
