#include "manifest/filter_rule.h"

#include <cctype>

#include "manifest/entry.h"
#include "util/error.h"

namespace ktsync {
namespace {

// rsync stops at this depth too; a merge file that merges itself must not loop forever.
constexpr int kMaxMergeDepth = 16;

enum class TokenType { Rule, Clear, Merge, DirMerge };

struct Token {
  TokenType type = TokenType::Rule;
  FilterRule rule;
  bool exclude_self = false;  // 'e' on a merge rule
};

// Where a token came from, for messages: the option's text, or a file and line.
struct Origin {
  std::string_view option;  // set for a command-line rule
  const std::string* file = nullptr;
  int line = 0;
};

// `quoted` (a piece of the rule) is said only for a command-line rule: a file's text may be
// someone else's (a per-directory file in a tree the reader does not own).
[[noreturn]] void Bad(const Origin& at, const std::string& why, const std::string& quoted = "") {
  if (at.file != nullptr)
    throw Error(ExitCode::Usage, "filter file " + *at.file + " line " + std::to_string(at.line) + ": " + why);
  throw Error(ExitCode::Usage, "filter rule '" + std::string(at.option) + "': " + why + quoted);
}

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// rsync's long rule names; "exclude" stands for '-' when followed by a separator or ','.
char LongRuleName(std::string_view s, size_t* used) {
  static constexpr struct {
    const char* name;
    char ch;
  } kNames[] = {{"clear", '!'},   {"dir-merge", ':'}, {"exclude", '-'}, {"hide", 'H'}, {"include", '+'},
                {"merge", '.'},   {"protect", 'P'},   {"risk", 'R'},    {"show", 'S'}};
  for (const auto& n : kNames) {
    std::string_view name = n.name;
    if (!s.starts_with(name)) continue;
    if (s.size() == name.size() || IsSpace(s[name.size()]) || s[name.size()] == '_' || s[name.size()] == ',') {
      *used = name.size();
      return n.ch;
    }
  }
  return 0;
}

// One modifier character of a rule whose rule character is `ch`.
void AddModifier(char m, char ch, Token& t, const Origin& at) {
  bool merge = ch == '.' || ch == ':';
  bool side_prefix = ch == 'H' || ch == 'S' || ch == 'P' || ch == 'R';
  uint16_t& mods = t.rule.mods;
  auto invalid = [&] { Bad(at, "invalid modifier", std::string(" '") + m + "'"); };
  switch (m) {
    case '-':
    case '+':
      if (!merge || (mods & kMergeNoPrefixes)) invalid();
      mods |= kMergeNoPrefixes | (m == '+' ? kMergeInclude : 0);
      return;
    case '/': mods |= kRuleAbsPath; return;
    case '!':
      if (merge) invalid();
      mods |= kRuleNegate;
      return;
    case 'e':
      if (!merge) invalid();
      t.exclude_self = true;
      return;
    case 'n':
      if (!merge) invalid();
      mods |= kMergeNoInherit;
      return;
    case 'w':
      if (!merge) invalid();
      mods |= kMergeWordSplit;
      return;
    case 'p': mods |= kRulePerishable; return;
    case 's':
    case 'r':
      if (side_prefix) invalid();
      mods |= m == 's' ? kRuleSender : kRuleReceiver;
      return;
    case 'C': Bad(at, "ktsync has no CVS rules ('C'): list the patterns in a filter file instead");
    case 'x': Bad(at, "ktsync has no xattr-name rules ('x'): use --no-xattrs, or exclude the files");
    default: invalid();
  }
}

// Applies a rule character to the token. Returns false for an unknown one.
bool SetRuleChar(char ch, Token& t) {
  uint16_t& mods = t.rule.mods;
  switch (ch) {
    case '+': t.rule.kind = RuleKind::Include; return true;
    case '-': t.rule.kind = RuleKind::Exclude; return true;
    case 'S': t.rule.kind = RuleKind::Include; mods |= kRuleSender; return true;
    case 'H': t.rule.kind = RuleKind::Exclude; mods |= kRuleSender; return true;
    case 'R': t.rule.kind = RuleKind::Include; mods |= kRuleReceiver; return true;
    case 'P': t.rule.kind = RuleKind::Exclude; mods |= kRuleReceiver; return true;
    case '!': t.type = TokenType::Clear; return true;
    case '.': t.type = TokenType::Merge; return true;
    case ':': t.type = TokenType::DirMerge; t.rule.kind = RuleKind::DirMerge; return true;
    default: return false;
  }
}

// Reads "RULE[,MODS]" and the one separator after it from the front of s (parse_rule_tok).
void ReadRulePrefix(std::string_view& s, bool word_split, Token& t, const Origin& at) {
  size_t used = 0;
  char ch = LongRuleName(s, &used);
  if (ch == 0) {
    ch = s[0];
    used = 1;
  }
  if (!SetRuleChar(ch, t))
    Bad(at, "unknown rule (expected + - H S P R ! . : or a long name)", std::string(": '") + ch + "'");
  s.remove_prefix(used);
  if (!s.empty() && s[0] == ',') s.remove_prefix(1);
  if (t.type == TokenType::Clear) return;  // anything after it is an error, as in rsync
  while (!s.empty() && s[0] != ' ' && s[0] != '_' && !(word_split && IsSpace(s[0]))) {
    AddModifier(s[0], ch, t, at);
    s.remove_prefix(1);
  }
  if (!s.empty() && !(word_split && IsSpace(s[0]))) s.remove_prefix(1);
}

// One rule from the front of s, advancing s past it. `merge` is the rule whose file is
// being read (its kind and modifiers are the defaults), or the command line's defaults.
Token ParseToken(std::string_view& s, const FilterRule& merge, RuleSyntax syntax, const Origin& at) {
  bool word_split = merge.mods & kMergeWordSplit;
  Token t;
  t.rule.kind = merge.kind == RuleKind::Include ? RuleKind::Include : RuleKind::Exclude;
  t.rule.mods = merge.mods & (kRuleAbsPath | kRulePerishable);
  if (merge.mods & kMergeNoPrefixes) {
    // Bare patterns: the file's rules all have the merge rule's kind.
  } else if (syntax == RuleSyntax::OldPrefixes) {
    if (s.starts_with("- ") || s.starts_with("+ ")) {
      t.rule.kind = s[0] == '+' ? RuleKind::Include : RuleKind::Exclude;
      s.remove_prefix(2);
    } else if (s == "!" || (word_split && s.starts_with("!") && (s.size() == 1 || IsSpace(s[1])))) {
      t.type = TokenType::Clear;
      s.remove_prefix(1);
      return t;
    }
  } else {
    ReadRulePrefix(s, word_split, t, at);
  }
  size_t len = s.size();
  if (word_split) {
    len = 0;
    while (len < s.size() && !IsSpace(s[len])) ++len;
  }
  std::string_view pattern = s.substr(0, len);
  s.remove_prefix(len);
  if (t.type == TokenType::Clear) {
    if (!pattern.empty()) Bad(at, "'!' takes no pattern");
    return t;
  }
  if (pattern.empty()) Bad(at, "a pattern or file name must follow the rule");
  if ((merge.mods & kRuleSides) != 0) {
    if ((t.rule.mods & kRuleSides) != 0)
      Bad(at, "a merge file that names its side (s or r) cannot hold rules that name theirs");
    t.rule.mods |= merge.mods & kRuleSides;
  }
  t.rule.pattern.assign(pattern);
  return t;
}

// Calls f(token_text, line_number) for each rule of a file: lines (ended by "\n", "\r" or
// "\r\n"; blank ones and '#'/';' comments skipped), or whitespace-separated words.
template <typename F>
void ForEachRuleText(std::string_view text, bool word_split, F&& f) {
  int line = 0;
  while (!text.empty()) {
    size_t nl = text.find_first_of("\r\n");  // rsync: either ends a line, "\r\n" is one end
    std::string_view one = text.substr(0, nl);
    size_t end_len = nl != std::string_view::npos && text.substr(nl).starts_with("\r\n") ? 2 : 1;
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + end_len);
    ++line;
    if (!word_split) {
      if (!one.empty() && one[0] != '#' && one[0] != ';') f(one, line);
      continue;
    }
    while (true) {
      while (!one.empty() && IsSpace(one[0])) one.remove_prefix(1);
      if (one.empty()) break;
      f(one, line);  // consumes one rule from the front
    }
  }
}

// The template a merge rule hands to the rules of its file.
FilterRule FileDefaults(const FilterRule& merge) {
  FilterRule d = merge;
  d.kind = merge.mods & kMergeInclude ? RuleKind::Include : RuleKind::Exclude;
  return d;
}

}  // namespace

std::string_view DirMergeName(const FilterRule& merge) { return BaseName(merge.pattern); }

namespace {

void AddText(std::string_view text, const FilterRule& merge, RuleSyntax syntax, const std::string& file,
             int depth, std::vector<FilterRule>& rules, const RuleListBuilder::ReadFile& read);

// A command-line rule's effect on the list: '!' empties it, a merge rule adds its file's.
void Apply(Token t, const Origin& at, int depth, std::vector<FilterRule>& rules,
           const RuleListBuilder::ReadFile& read) {
  switch (t.type) {
    case TokenType::Clear: return rules.clear();
    case TokenType::Rule: return rules.push_back(std::move(t.rule));
    case TokenType::Merge:
    case TokenType::DirMerge: break;
  }
  if (t.exclude_self) rules.push_back(ExcludeRule(std::string(DirMergeName(t.rule))));
  if (t.type == TokenType::DirMerge) return rules.push_back(std::move(t.rule));
  if (depth + 1 >= kMaxMergeDepth) Bad(at, "merge files nest too deep (a file that merges itself?)");
  AddText(read(t.rule.pattern), FileDefaults(t.rule), RuleSyntax::Full, t.rule.pattern, depth + 1, rules, read);
}

void AddText(std::string_view text, const FilterRule& merge, RuleSyntax syntax, const std::string& file,
             int depth, std::vector<FilterRule>& rules, const RuleListBuilder::ReadFile& read) {
  ForEachRuleText(text, merge.mods & kMergeWordSplit, [&](std::string_view& one, int line) {
    Origin at{{}, &file, line};
    Apply(ParseToken(one, merge, syntax, at), at, depth, rules, read);
  });
}

}  // namespace

void RuleListBuilder::Add(std::string_view text, RuleSyntax syntax, RuleKind bare) {
  Origin at{text, nullptr, 0};
  if (text.empty()) Bad(at, "empty rule");
  std::string_view s = text;
  Apply(ParseToken(s, FilterRule{bare, 0, {}}, syntax, at), at, 0, rules_, read_);
}

void RuleListBuilder::AddFile(const std::string& path, RuleKind bare) {
  AddText(read_(path), FilterRule{bare, 0, {}}, RuleSyntax::OldPrefixes, path, 0, rules_, read_);
}

DirMergeRules ParseDirMergeFile(std::string_view text, const FilterRule& merge, const std::string& file) {
  DirMergeRules out;
  ForEachRuleText(text, merge.mods & kMergeWordSplit, [&](std::string_view& one, int line) {
    Origin at{{}, &file, line};
    Token t = ParseToken(one, FileDefaults(merge), RuleSyntax::Full, at);
    switch (t.type) {
      case TokenType::Clear:
        out.clears = true;
        out.rules.clear();
        return;
      case TokenType::Rule:
        if (out.rules.size() == kMaxDirMergeRules)
          Bad(at, "more than " + std::to_string(kMaxDirMergeRules) + " rules in one per-directory file");
        out.rules.push_back(std::move(t.rule));
        return;
      default: Bad(at, "merge rules inside a per-directory filter file are not supported");
    }
  });
  return out;
}

std::string RuleText(const FilterRule& r) {
  std::string s = r.kind == RuleKind::Include ? "+" : r.kind == RuleKind::Exclude ? "-" : ":";
  std::string mods;
  static constexpr struct {
    uint16_t bit;
    char c;
  } kChars[] = {{kRuleAbsPath, '/'}, {kRuleNegate, '!'},      {kRulePerishable, 'p'}, {kRuleSender, 's'},
                {kRuleReceiver, 'r'}, {kMergeNoInherit, 'n'}, {kMergeWordSplit, 'w'}};
  if (r.mods & kMergeNoPrefixes) mods += r.mods & kMergeInclude ? '+' : '-';
  for (const auto& k : kChars)
    if (r.mods & k.bit) mods += k.c;
  if (!mods.empty()) s += "," + mods;
  return s + " " + r.pattern;
}

}  // namespace ktsync
