#include "manifest/filter.h"

#include <algorithm>
#include <cstring>

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

// Wildcard match of [p, pend) against all of [t, tend). The abort results are what keep
// this polynomial: AbortAll (text ran out: no later start can help) and AbortToStarStar
// (a '*' met a '/': only an enclosing "**" may retry) stop the retries of outer stars.
Wm Wild(const char* pbeg, const char* p, const char* pend, const char* t, const char* tend) {
  for (; p < pend; ++p, ++t) {
    if (*p == '*') break;
    if (t == tend) return Wm::AbortAll;
    switch (*p) {
      case '\\':
        ++p;
        if (*t != *p) return Wm::NoMatch;
        break;
      case '?':
        if (*t == '/') return Wm::NoMatch;
        break;
      case '[': {
        bool hit = false;
        p = ReadClass(p + 1, pend, static_cast<Byte>(*t), &hit);
        if (*t == '/' || !hit) return Wm::NoMatch;
        break;
      }
      default:
        if (*t != *p) return Wm::NoMatch;
    }
  }
  if (p == pend) return t == tend ? Wm::Match : Wm::NoMatch;

  const char* stars = p;
  while (p < pend && *p == '*') ++p;
  bool dbl = p - stars > 1;
  if (p == pend) {
    if (dbl || std::memchr(t, '/', static_cast<size_t>(tend - t)) == nullptr) return Wm::Match;
    return Wm::AbortToStarStar;
  }
  // "**/" at a component start may also stand for no directory at all ("a/**/b" ~ "a/b").
  if (dbl && *p == '/' && (stars == pbeg || stars[-1] == '/')) {
    Wm r = Wild(pbeg, p + 1, pend, t, tend);
    if (r == Wm::Match || r == Wm::AbortAll) return r;
  }
  int lit = IsPlain(*p) ? static_cast<Byte>(*p) : -1;
  for (;; ++t) {
    if (lit >= 0) {
      while (t < tend && static_cast<Byte>(*t) != lit) {
        if (!dbl && *t == '/') return Wm::AbortToStarStar;
        ++t;
      }
      if (t == tend) return Wm::AbortAll;
    }
    Wm r = Wild(pbeg, p, pend, t, tend);
    if (r != Wm::NoMatch && !(dbl && r == Wm::AbortToStarStar)) return r;
    if (t == tend) return Wm::AbortAll;
    if (!dbl && *t == '/') return Wm::AbortToStarStar;
  }
}

bool WildMatch(std::string_view pat, std::string_view text) {
  const char* p = pat.data();
  return Wild(p, p, p + pat.size(), text.data(), text.data() + text.size()) == Wm::Match;
}

[[noreturn]] void BadPattern(const std::string& pattern, const char* why) {
  throw Error(ExitCode::Usage, "invalid filter pattern '" + pattern + "': " + why);
}

// Checks the syntax of a wild pattern and counts its '/'-separated components.
int CheckWildPattern(const std::string& original, std::string_view pat) {
  int components = 1;
  const char* end = pat.data() + pat.size();
  for (const char* p = pat.data(); p < end; ++p) {
    if (*p == '\\') {
      if (++p == end) BadPattern(original, "ends with a lone '\\'");
    } else if (*p == '[') {
      p = ReadClass(p + 1, end, -1, nullptr);
      if (p == nullptr) BadPattern(original, "unterminated '[' or unknown [:class:]");
    } else if (*p == '/') {
      ++components;
    }
  }
  return components;
}

Filter::Compiled Compile(const std::string& original, bool include, std::string_view pat) {
  Filter::Compiled c;
  c.include = include;
  if (!pat.empty() && pat.front() == '/') {
    c.anchored = true;
    pat.remove_prefix(1);
  }
  while (!pat.empty() && pat.back() == '/') {
    c.dir_only = true;
    pat.remove_suffix(1);
  }
  if (pat.empty()) BadPattern(original, "matches no path");
  c.wild = pat.find_first_of("*?[") != std::string_view::npos;
  c.double_star = pat.find("**") != std::string_view::npos;
  c.whole_path = c.double_star || pat.find('/') != std::string_view::npos;
  if (c.wild) {
    c.components = CheckWildPattern(original, pat);
  } else {
    c.components = 1 + static_cast<int>(std::count(pat.begin(), pat.end(), '/'));
  }
  c.pat.assign(pat);
  return c;
}

// The last `n` components of path; false when it has fewer.
bool LastComponents(std::string_view path, int n, std::string_view* out) {
  size_t cut = path.size();
  for (int i = 0; i < n; ++i) {
    size_t slash = cut == 0 ? std::string_view::npos : path.rfind('/', cut - 1);
    if (slash == std::string_view::npos) {
      if (i + 1 < n) return false;
      *out = path;
      return true;
    }
    cut = slash;
  }
  *out = path.substr(cut + 1);
  return true;
}

bool Matches(const Filter::Compiled& c, std::string_view path) {
  if (c.anchored) return c.wild ? WildMatch(c.pat, path) : path == c.pat;
  if (!c.whole_path) {
    std::string_view base = BaseName(path);
    return c.wild ? WildMatch(c.pat, base) : base == c.pat;
  }
  if (!c.double_star) {
    std::string_view tail;
    if (!LastComponents(path, c.components, &tail)) return false;
    return c.wild ? WildMatch(c.pat, tail) : tail == c.pat;
  }
  for (size_t start = 0;;) {
    if (WildMatch(c.pat, path.substr(start))) return true;
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) return false;
    start = slash + 1;
  }
}

}  // namespace

void Filter::Add(bool include, std::string pattern) {
  std::string_view pat = pattern;
  if (pat.size() >= 4 && pat.substr(pat.size() - 4) == "/***") {
    // rsync: "dir/***" is "dir/" plus everything inside it.
    std::string_view dir = pat.substr(0, pat.size() - 4);
    Compiled self = Compile(pattern, include, std::string(dir) + "/");
    std::string inside(dir);
    if (!self.wild) {  // a literal '\' must stay literal once "**" makes the pattern wild
      inside.clear();
      for (char ch : dir) {
        if (ch == '\\') inside += '\\';
        inside += ch;
      }
    }
    Compiled contents = Compile(pattern, include, inside + "/**");
    compiled_.push_back(std::move(self));
    compiled_.push_back(std::move(contents));
  } else {
    compiled_.push_back(Compile(pattern, include, pat));
  }
  rules_.push_back({include, std::move(pattern)});
}

void Filter::AddFromText(std::string_view text, bool default_include) {
  for (FilterRule& r : ParseFilterText(text, default_include)) Add(r.include, std::move(r.pattern));
}

bool Filter::Excluded(std::string_view rel_path, bool is_dir) const {
  if (rel_path.empty()) return false;
  for (const Compiled& c : compiled_) {
    if (c.dir_only && !is_dir) continue;
    if (Matches(c, rel_path)) return !c.include;
  }
  return false;
}

std::vector<FilterRule> ParseFilterText(std::string_view text, bool default_include) {
  std::vector<FilterRule> rules;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line == "!")
      throw Error(ExitCode::Usage, "filter rule '!' (clear the list) is not supported");
    bool include = default_include;
    if (line.size() >= 2 && (line[0] == '+' || line[0] == '-') && line[1] == ' ') {
      include = line[0] == '+';
      line.remove_prefix(2);
    }
    rules.push_back({include, std::string(line)});
  }
  return rules;
}

}  // namespace ktsync
