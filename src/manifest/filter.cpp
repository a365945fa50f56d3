#include "manifest/filter.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "manifest/entry.h"
#include "util/error.h"

namespace ktsync {
namespace {

using Byte = unsigned char;

enum class Wm { Match, NoMatch, AbortAll, AbortToStarStar };

// ASCII only, whatever the locale: names are bytes, not characters.
bool IsAlpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(int c) { return c >= '0' && c <= '9'; }

bool InNamedClass(std::string_view name, int c) {
  if (name == "alnum") return IsAlpha(c) || IsDigit(c);
  if (name == "alpha") return IsAlpha(c);
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return c < 0x20 || c == 0x7f;
  if (name == "digit") return IsDigit(c);
  if (name == "graph") return c > 0x20 && c < 0x7f;
  if (name == "lower") return c >= 'a' && c <= 'z';
  if (name == "print") return c >= 0x20 && c < 0x7f;
  if (name == "punct") return c > 0x20 && c < 0x7f && !IsAlpha(c) && !IsDigit(c);
  if (name == "space") return c == ' ' || (c >= '\t' && c <= '\r');
  if (name == "upper") return c >= 'A' && c <= 'Z';
  if (name == "xdigit") return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  return false;
}

bool KnownClass(std::string_view name) {
  for (const char* n : {"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
                        "punct", "space", "upper", "xdigit"})
    if (name == n) return true;
  return false;
}

// Reads a bracket class whose body starts at p (just past '['). Returns the position of the
// closing ']', or nullptr when malformed. With c >= 0, *hit tells whether byte c is in it.
// The same reader validates at Add() and matches later, so both agree on the syntax.
const char* ReadClass(const char* p, const char* end, int c, bool* hit) {
  bool negate = p < end && (*p == '!' || *p == '^');
  if (negate) ++p;
  bool matched = false;
  for (bool first = true;; first = false) {
    if (p == end) return nullptr;
    if (*p == ']' && !first) break;
    if (*p == '[' && p + 1 < end && p[1] == ':') {
      const char* close = static_cast<const char*>(
          memmem(p + 2, static_cast<size_t>(end - p - 2), ":]", 2));
      if (close != nullptr) {
        std::string_view name(p + 2, static_cast<size_t>(close - p - 2));
        if (!KnownClass(name)) return nullptr;
        matched |= c >= 0 && InNamedClass(name, c);
        p = close + 2;
        continue;
      }
    }
    if (*p == '\\' && ++p == end) return nullptr;
    int lo = static_cast<Byte>(*p++);
    if (p + 1 < end && *p == '-' && p[1] != ']') {
      ++p;
      if (*p == '\\' && ++p == end) return nullptr;
      int hi = static_cast<Byte>(*p++);
      matched |= c >= lo && c <= hi;
    } else {
      matched |= c == lo;
    }
  }
  if (hit != nullptr) *hit = matched != negate;
  return p;
}

bool IsPlain(char c) { return c != '*' && c != '?' && c != '[' && c != '\\'; }

// rsync's dowild() over [t, tend). The abort results keep it polynomial: AbortAll (text ran
// out: no later start can help) and AbortToStarStar (a '*' met a '/': only an enclosing
// "**" may retry).
Wm Wild(const char* p, const char* pend, const char* t, const char* tend) {
  for (; p < pend; ++p, ++t) {
    if (t == tend && *p != '*') return Wm::AbortAll;
    switch (*p) {
      case '\\':
        ++p;  // a trailing '\' is refused when the rule is compiled
        if (*t != *p) return Wm::NoMatch;
        continue;
      case '?':
        if (*t == '/') return Wm::NoMatch;
        continue;
      case '[': {
        bool hit = false;
        p = ReadClass(p + 1, pend, static_cast<Byte>(*t), &hit);
        if (*t == '/' || !hit) return Wm::NoMatch;
        continue;
      }
      case '*': break;
      default:
        if (*t != *p) return Wm::NoMatch;
        continue;
    }
    const char* stars = p;
    while (p < pend && *p == '*') ++p;
    bool dbl = p - stars > 1;
    if (p == pend) {  // a trailing "*" matches only if no '/' is left
      return dbl || std::memchr(t, '/', static_cast<size_t>(tend - t)) == nullptr ? Wm::Match : Wm::NoMatch;
    }
    int lit = IsPlain(*p) ? static_cast<Byte>(*p) : -1;
    for (;; ++t) {
      if (t == tend) return Wm::AbortAll;
      if (lit < 0 || static_cast<Byte>(*t) == lit) {
        Wm r = Wild(p, pend, t, tend);
        if (r != Wm::NoMatch) {
          if (!dbl || r != Wm::AbortToStarStar) return r;
          continue;
        }
      }
      if (!dbl && *t == '/') return Wm::AbortToStarStar;
    }
  }
  return t == tend ? Wm::Match : Wm::NoMatch;
}

Wm WildAt(std::string_view pat, std::string_view text) {
  return Wild(pat.data(), pat.data() + pat.size(), text.data(), text.data() + text.size());
}

// The last n '/'-separated elements of text (rsync's trailing_N_elements); false when it
// has fewer.
bool TrailingElements(std::string_view text, int n, std::string_view* out) {
  for (size_t i = text.size(); i-- > 0;) {
    if (text[i] == '/' && --n == 0) {
      *out = text.substr(i + 1);
      return true;
    }
  }
  if (n != 1) return false;
  *out = text;
  return true;
}

// rsync's wildmatch_array()/litmatch_array() on the joined text: `where` > 0 matches the
// last `where` elements, < 0 tries the start and after every '/', 0 the whole text.
bool MatchText(const Filter::Compiled& c, std::string_view text, int where) {
  if (where > 0 && !TrailingElements(text, where, &text)) return false;
  if (!c.wild) return text == c.pat;
  Wm m = WildAt(c.pat, text);
  if (m == Wm::Match) return true;
  if (where >= 0 || m == Wm::AbortAll) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '/') continue;
    m = WildAt(c.pat, text.substr(i + 1));
    if (m != Wm::NoMatch && m != Wm::AbortToStarStar) return m == Wm::Match;
  }
  return false;
}

[[noreturn]] void BadPattern(const std::string& pattern, const char* why) {
  throw Error(ExitCode::Usage, "invalid filter pattern '" + pattern + "': " + why);
}

// Checks the syntax of a wild pattern (rsync would silently never match a broken one).
void CheckWildPattern(const std::string& original, std::string_view pat) {
  const char* end = pat.data() + pat.size();
  for (const char* p = pat.data(); p < end; ++p) {
    if (*p == '\\') {
      if (++p == end) BadPattern(original, "ends with a lone '\\'");
    } else if (*p == '[') {
      p = ReadClass(p + 1, end, -1, nullptr);
      if (p == nullptr) BadPattern(original, "unterminated '[' or unknown [:class:]");
    }
  }
}

uint16_t SidesOf(uint16_t mods, bool delete_excluded) {
  if (mods & kRuleSides) return mods & kRuleSides;
  return delete_excluded ? kRuleSender : kRuleSides;
}

}  // namespace

Filter::Compiled Filter::Compile(const FilterRule& rule, bool delete_excluded) {
  Compiled c;
  c.include = rule.kind == RuleKind::Include;
  c.negate = rule.mods & kRuleNegate;
  c.perishable = rule.mods & kRulePerishable;
  c.abs_path = rule.mods & kRuleAbsPath;
  c.sides = SidesOf(rule.mods, delete_excluded);
  std::string_view pat = rule.pattern;
  if (pat.empty()) BadPattern(rule.pattern, "matches no path");
  if (pat.size() > 1 && pat.back() == '/') {  // rsync strips exactly one
    c.dir_only = true;
    pat.remove_suffix(1);
  }
  c.slash_cnt = static_cast<int>(std::count(pat.begin(), pat.end(), '/'));
  c.wild = pat.find_first_of("*?[") != std::string_view::npos;
  if (c.wild) {
    CheckWildPattern(rule.pattern, pat);
    size_t dbl = pat.find("**");
    c.wild2 = dbl != std::string_view::npos;
    c.wild2_prefix = dbl == 0;
    c.wild3_suffix = c.wild2 && pat.ends_with("***");
  }
  if (pat.front() == '/') {
    c.anchored = true;
    pat.remove_prefix(1);
  }
  c.pat.assign(pat);
  return c;
}

// rsync's rule_matches(): which text a pattern is held against depends on its shape.
bool Filter::Matches(const Compiled& c, std::string_view path, bool is_dir, std::string_view abs_root) {
  bool on_match = !c.negate;
  if (!is_dir && c.dir_only) return !on_match;
  std::string_view name = path;
  thread_local std::string joined;
  joined.clear();
  if (c.slash_cnt == 0 && !c.wild2) {
    name = BaseName(path);
  } else if (c.abs_path && !abs_root.empty()) {
    joined.append(abs_root).push_back('/');
  } else if (c.wild2_prefix) {
    joined.push_back('/');  // lets "**/" match at the top level
  }
  bool dir_suffix = is_dir && c.wild3_suffix;  // lets "dir/***" match dir itself
  int where = 0;
  if (!c.anchored && c.slash_cnt > 0 && !c.wild2) {
    where = c.slash_cnt + 1;
  } else if (!c.anchored && !c.wild2_prefix && c.wild2) {
    where = -1;
  }
  if (joined.empty() && !dir_suffix && !c.wild) {
    if (c.anchored) return name == c.pat ? on_match : !on_match;
    bool tail = name.ends_with(c.pat) &&
                (name.size() == c.pat.size() || name[name.size() - c.pat.size() - 1] == '/');
    return tail ? on_match : !on_match;
  }
  joined.append(name);
  if (dir_suffix) joined.push_back('/');
  return MatchText(c, joined, where) ? on_match : !on_match;
}

Filter::Filter(const std::vector<FilterRule>& rules, bool delete_excluded, std::string_view abs_root)
    : delete_excluded_(delete_excluded), symmetric_(!delete_excluded) {
  while (abs_root.starts_with('/')) abs_root.remove_prefix(1);
  abs_root_.assign(abs_root);
  for (const FilterRule& r : rules) {
    // An absolute-path rule is matched against each side's own location: they differ.
    if (r.mods & (kRuleSides | kRulePerishable | kRuleAbsPath)) symmetric_ = false;
    if (r.kind == RuleKind::DirMerge) {
      std::string_view name = DirMergeName(r);
      if (name.empty() || name == "." || name == "..")
        throw Error(ExitCode::Usage, "dir-merge rule '" + r.pattern + "' names no file");
      Compiled slot;
      slot.slot = static_cast<int>(merges_.size());
      merges_.push_back(r);
      compiled_.push_back(std::move(slot));
      symmetric_ = false;  // the files' rules may name sides
      continue;
    }
    compiled_.push_back(Compile(r, delete_excluded));
  }
}

int Filter::Check(std::string_view rel_path, bool is_dir, uint16_t side, const DirRules* dir_rules,
                  bool ignore_perishable) const {
  if (rel_path.empty()) return 0;
  for (const Compiled& c : compiled_) {
    if (c.slot >= 0) {
      int r = dir_rules ? dir_rules->Check(c.slot, rel_path, is_dir, side, ignore_perishable) : 0;
      if (r != 0) return r;
      continue;
    }
    if (!(c.sides & side) || (ignore_perishable && c.perishable)) continue;
    if (Matches(c, rel_path, is_dir, abs_root_)) return c.include ? 1 : -1;
  }
  return 0;
}

DirRules::DirRules(const Filter& f) : filter_(f), slots_(f.merges_.size()) {
  for (const FilterRule& m : f.merges_) names_.emplace_back(DirMergeName(m));
}

// Reads dir-merge rule `slot`'s file where `read` looks; `dir` names that directory in
// messages ("" the tree's root) and, for a level of the walk, is its path.
void DirRules::Load(size_t slot, Level level, std::string_view dir, const ReadFn& read) {
  const std::string& name = names_[slot];
  std::optional<std::string> text = read(name);
  if (!text) return;  // the common case: nothing allocated per directory
  std::string label = std::string(dir) + (dir.empty() || dir.ends_with('/') ? "" : "/") + name;
  const FilterRule& merge = filter_.merges_[slot];
  DirMergeRules parsed = ParseDirMergeFile(*text, merge, label);
  if (level.above.empty()) level.dir.assign(dir);
  level.inherit = !(merge.mods & kMergeNoInherit);
  level.clears = parsed.clears;
  for (const FilterRule& r : parsed.rules) {
    Filter::Compiled c;
    try {
      c = Filter::Compile(r, filter_.delete_excluded_);
    } catch (const Error&) {
      // Not the pattern: the file may be someone else's.
      throw Error(ExitCode::FileIo, label + ": a pattern has an unterminated '[', an unknown [:class:] or a lone '\\'");
    }
    c.relative_to_dir = c.anchored && !c.abs_path;  // rsync: anchored at the file's own directory
    level.rules.push_back(std::move(c));
  }
  if (level.rules.empty() && !level.clears) return;
  slots_[slot].push_back(std::move(level));
}

void DirRules::Enter(std::string_view dir, size_t depth, const ReadFn& read) {
  Leave(depth);
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    Level level;
    level.depth = depth;
    Load(slot, std::move(level), dir, read);
  }
}

void DirRules::EnterAbove(size_t slot, std::string_view dir, std::string above, const ReadFn& read) {
  if (filter_.merges_[slot].mods & kMergeNoInherit) return;  // would apply to no entry of the tree
  Level level;
  level.above = std::move(above);
  Load(slot, std::move(level), dir, read);
}

void DirRules::Leave(size_t depth) {
  for (auto& levels : slots_) {
    while (!levels.empty() && levels.back().above.empty() && levels.back().depth >= depth) levels.pop_back();
  }
}

int DirRules::Check(int slot, std::string_view path, bool is_dir, uint16_t side, bool ignore_perishable) const {
  const std::vector<Level>& levels = slots_[static_cast<size_t>(slot)];
  std::string_view parent = ParentPath(path);
  std::string rel;
  for (size_t i = levels.size(); i-- > 0;) {
    const Level& l = levels[i];
    if (l.above.empty() && !l.inherit && parent != l.dir) continue;
    for (const Filter::Compiled& c : l.rules) {
      if (!(c.sides & side) || (ignore_perishable && c.perishable)) continue;
      std::string_view text = path;
      if (c.relative_to_dir) {
        if (!l.above.empty()) {
          rel = l.above + "/" + std::string(path);
          text = rel;
        } else if (!l.dir.empty()) {
          text = path.substr(l.dir.size() + 1);
        }
      }
      if (Filter::Matches(c, text, is_dir, filter_.abs_root_)) return c.include ? 1 : -1;
    }
    if (l.clears) break;
  }
  return 0;
}

}  // namespace ktsync
