// A port of rsync's parse_chmod/tweak_mode (chmod.c), so --chmod gives what rsync gives.
#include "manifest/chmod.h"

#include "util/error.h"

namespace ktsync {
namespace {

constexpr uint32_t kModeBits = 07777;

// One comma-separated item as rsync reads it: [DF][ugoa]*[+-=][rwxXst]* or [DF]OCTAL.
class ItemParser {
 public:
  explicit ItemParser(uint32_t umask) : umask_(umask) {}

  bool Feed(char c) {
    switch (state_) {
      case First: return FeedFirst(c);
      case Perms: return FeedPerm(c);
      case Octal:
        if (c < '0' || c > '7') return false;
        what_ = what_ * 8 + static_cast<uint32_t>(c - '0');
        return what_ <= kModeBits;
    }
    return false;
  }

  bool Finish(ChmodRule& out) const {
    if (op_ == 0) return false;
    uint32_t where = where_, bits = 0;
    if (where != 0) {
      bits = where * what_;
    } else {
      where = 0111;
      bits = (where * what_) & ~umask_;
    }
    uint32_t keep = kModeBits, add = 0;
    switch (op_) {
      case '+': add = bits | topoct_; break;
      case '-': keep = kModeBits & ~(bits | topoct_); break;
      case '=':
        keep = kModeBits & ~(where * 7) & ~(topoct_ ? topbits_ : 0);
        add = bits | topoct_;
        break;
      case '#': keep = 0; add = bits; break;  // an octal mode
    }
    out = {flags_, static_cast<uint16_t>(keep), static_cast<uint16_t>(add)};
    return true;
  }

 private:
  bool FeedFirst(char c) {
    switch (c) {
      case 'D': flags_ |= ChmodRule::kDirsOnly; return !(flags_ & ChmodRule::kFilesOnly);
      case 'F': flags_ |= ChmodRule::kFilesOnly; return !(flags_ & ChmodRule::kDirsOnly);
      case 'u': where_ |= 0100; topbits_ |= 04000; return true;
      case 'g': where_ |= 0010; topbits_ |= 02000; return true;
      case 'o': where_ |= 0001; return true;
      case 'a': where_ |= 0111; return true;
      case '+': case '-': case '=':
        op_ = c;
        state_ = Perms;
        return true;
    }
    if (c < '0' || c > '7' || where_ != 0) return false;
    op_ = '#';
    state_ = Octal;
    where_ = 1;
    what_ = static_cast<uint32_t>(c - '0');
    return true;
  }

  bool FeedPerm(char c) {
    switch (c) {
      case 'r': what_ |= 4; return true;
      case 'w': what_ |= 2; return true;
      case 'X': flags_ |= ChmodRule::kExecIfAny; what_ |= 1; return true;
      case 'x': what_ |= 1; return true;
      case 's': topoct_ |= topbits_ ? topbits_ : 04000; return true;
      case 't': topoct_ |= 01000; return true;
    }
    return false;
  }

  const uint32_t umask_;
  enum { First, Perms, Octal } state_ = First;
  uint8_t flags_ = 0;
  char op_ = 0;
  uint32_t where_ = 0, what_ = 0, topbits_ = 0, topoct_ = 0;
};

}  // namespace

ChmodRules ParseChmod(const std::string& text, uint32_t umask) {
  auto bad = [&text](const std::string& why) {
    return Error(ExitCode::Usage, "--chmod '" + text + "': " + why +
                                      " (rsync's syntax: [DF][ugoa][+-=][rwxXst] or [DF]OCTAL, comma-separated)");
  };
  ChmodRules rules;
  size_t start = 0;
  while (true) {
    size_t end = text.find(',', start);
    std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    ItemParser p(umask);
    for (char c : item)
      if (!p.Feed(c)) throw bad("cannot read '" + item + "'");
    ChmodRule rule;
    if (!p.Finish(rule)) throw bad("'" + item + "' has no +, - or = and is no octal mode");
    rules.push_back(rule);
    if (rules.size() > kMaxChmodRules) throw bad("more than " + std::to_string(kMaxChmodRules) + " rules");
    if (end == std::string::npos) return rules;
    start = end + 1;
  }
}

uint32_t ApplyChmod(const ChmodRules& rules, uint32_t mode, bool dir) {
  const bool had_exec = (mode & 0111) != 0;
  for (const ChmodRule& r : rules) {
    if ((r.flags & ChmodRule::kDirsOnly) && !dir) continue;
    if ((r.flags & ChmodRule::kFilesOnly) && dir) continue;
    mode &= r.keep;
    bool exec_only_if_any = (r.flags & ChmodRule::kExecIfAny) && !had_exec && !dir;
    mode |= exec_only_if_any ? (r.add & ~0111u) : r.add;
  }
  return mode & kModeBits;
}

}  // namespace ktsync
