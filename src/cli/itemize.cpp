#include "cli/itemize.h"

#include <cstdint>
#include <string>

namespace ktsync {
namespace {

bool IsCont(unsigned char b) { return (b & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence starting at s[pos], or 0 when the byte there does not
// start one. The second-byte ranges exclude overlong forms, surrogates and > U+10FFFF.
size_t Utf8SeqLen(std::string_view s, size_t pos) {
  auto at = [&](size_t k) -> unsigned char {
    return pos + k < s.size() ? static_cast<unsigned char>(s[pos + k]) : 0;
  };
  unsigned char b = at(0);
  if (b < 0x80) return 1;
  unsigned char lo = 0x80, hi = 0xBF;
  size_t len;
  if (b >= 0xC2 && b <= 0xDF) {
    len = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    len = 3;
    if (b == 0xE0) lo = 0xA0;
    if (b == 0xED) hi = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    len = 4;
    if (b == 0xF0) lo = 0x90;
    if (b == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!IsCont(at(k))) return 0;
  }
  return len;
}

bool IsControl(unsigned char b) { return b < 0x20 || b == 0x7F; }

void AppendOctal(std::string& out, unsigned char b) {
  out += "\\#";
  out += static_cast<char>('0' + ((b >> 6) & 7));
  out += static_cast<char>('0' + ((b >> 3) & 7));
  out += static_cast<char>('0' + (b & 7));
}

void AppendHexByte(std::string& out, unsigned char b) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += kHex[b >> 4];
  out += kHex[b & 15];
}

std::string HexBytes(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (char c : s) AppendHexByte(out, static_cast<unsigned char>(c));
  return out;
}

bool ShowsTarget(const ItemView& a) { return !IsDeletion(a.kind) && a.type == EntryType::Symlink; }

bool ShowsLeader(const ItemView& a) { return a.kind == ActionKind::HardLink && !a.leader.empty(); }

char YChar(ActionKind k, bool push) {
  switch (k) {
    case ActionKind::SendFile: return push ? '<' : '>';
    case ActionKind::MkDir:
    case ActionKind::Symlink:
    case ActionKind::Special: return 'c';
    case ActionKind::HardLink: return 'h';
    case ActionKind::MetaOnly:
    case ActionKind::DirMeta:
    case ActionKind::RemoveForType:
    case ActionKind::Delete: break;
  }
  return '.';
}

std::string AttrChars(uint16_t ch) {
  if (ch & kChNew) return "+++++++++";
  std::string s = ".........";
  if (ch & (kChChecksum | kChTarget)) s[0] = 'c';
  if (ch & kChSize) s[1] = 's';
  if (ch & kChMtime) s[2] = 't';
  if (ch & kChPerms) s[3] = 'p';
  if (ch & kChOwner) s[4] = 'o';
  if (ch & kChGroup) s[5] = 'g';
  if (ch & kChAcl) s[7] = 'a';
  if (ch & kChXattr) s[8] = 'x';
  return s;
}

const char* OpName(ActionKind k) {
  switch (k) {
    case ActionKind::RemoveForType: return "remove";
    case ActionKind::MkDir: return "mkdir";
    case ActionKind::SendFile: return "send";
    case ActionKind::MetaOnly: return "meta";
    case ActionKind::Symlink: return "symlink";
    case ActionKind::Special: return "special";
    case ActionKind::HardLink: return "hardlink";
    case ActionKind::Delete: return "delete";
    case ActionKind::DirMeta: return "dirmeta";
  }
  return "unknown";
}

void AppendJsonField(std::string& out, std::string_view key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  out += JsonEscape(value);
  out += '"';
  if (!IsValidUtf8(value)) {
    out += ",\"";
    out += key;
    out += "_hex\":\"";
    out += HexBytes(value);
    out += '"';
  }
}

}  // namespace

bool ItemMakesRoom(const ItemView& a) { return a.kind == ActionKind::RemoveForType && (a.changes & kChNew); }

bool ItemIsSilent(const ItemView& a) {
  return a.kind == ActionKind::DirMeta && (a.changes == 0 || (a.changes & kChNew));
}

bool IsValidUtf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    size_t n = Utf8SeqLen(s, pos);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string EscapeItemName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t pos = 0; pos < name.size();) {
    unsigned char b = static_cast<unsigned char>(name[pos]);
    size_t n = Utf8SeqLen(name, pos);
    bool backslash_hash = b == '\\' && pos + 1 < name.size() && name[pos + 1] == '#';
    if (n == 0 || (n == 1 && (IsControl(b) || backslash_hash))) {
      AppendOctal(out, b);
      ++pos;
    } else {
      out.append(name.substr(pos, n));
      pos += n;
    }
  }
  return out;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (size_t pos = 0; pos < s.size();) {
    unsigned char b = static_cast<unsigned char>(s[pos]);
    size_t n = Utf8SeqLen(s, pos);
    if (n > 1) {
      out.append(s.substr(pos, n));
      pos += n;
      continue;
    }
    ++pos;
    switch (b) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (n == 1 && !IsControl(b)) {
      out += static_cast<char>(b);
    } else {  // control character, or a byte that is not valid UTF-8
      out += "\\u00";
      AppendHexByte(out, b);
    }
  }
  return out;
}

std::string ItemizeCode(const ItemView& a, bool push) {
  if (IsDeletion(a.kind)) return "*deleting  ";
  std::string code;
  code += YChar(a.kind, push);
  code += TypeLetter(a.type);
  code += AttrChars(a.changes);
  return code;
}

std::string ItemName(const ItemView& a) {
  if (a.type != EntryType::Dir) return EscapeItemName(a.path);
  return (a.path.empty() ? std::string(".") : EscapeItemName(a.path)) + '/';
}

std::string ItemLinkSuffix(const ItemView& a) {
  std::string out;
  if (ShowsTarget(a)) out += " -> " + EscapeItemName(a.target);
  if (ShowsLeader(a)) out += " => " + EscapeItemName(a.leader);
  return out;
}

std::string ItemizeLine(const ItemView& a, bool push) {
  if (ItemIsSilent(a) || ItemMakesRoom(a)) return "";
  return ItemizeCode(a, push) + ' ' + ItemName(a) + ItemLinkSuffix(a);
}

std::string ItemJson(const ItemView& a, bool push) {
  if (ItemIsSilent(a)) return "";
  std::string out = "{\"event\":\"item\",\"op\":\"";
  out += OpName(a.kind);
  out += '"';
  AppendJsonField(out, "path", a.path.empty() ? std::string_view(".") : a.path);
  out += ",\"type\":\"";
  out += TypeLetter(a.type);
  out += "\",\"itemize\":\"" + ItemizeCode(a, push) + '"';
  out += ",\"size\":" + std::to_string(a.size);
  if (ShowsTarget(a)) AppendJsonField(out, "target", a.target);
  if (ShowsLeader(a)) AppendJsonField(out, "leader", a.leader);
  out += '}';
  return out;
}

std::string TotalsText(const PlanTotals& t) {
  std::string out;
  out += "Number of files to send: " + std::to_string(t.files_to_send) + "\n";
  out += "Total bytes to send: " + std::to_string(t.bytes_to_send) + "\n";
  out += "Number of entries to delete: " + std::to_string(t.to_delete) + "\n";
  out += "Number of metadata-only updates: " + std::to_string(t.meta_only) + "\n";
  out += "Number of other changes: " + std::to_string(t.created_other) + "\n";
  return out;
}

std::string TotalsJson(const PlanTotals& t) {
  return "{\"event\":\"totals\",\"files_to_send\":" + std::to_string(t.files_to_send) +
         ",\"bytes_to_send\":" + std::to_string(t.bytes_to_send) +
         ",\"to_delete\":" + std::to_string(t.to_delete) +
         ",\"meta_only\":" + std::to_string(t.meta_only) +
         ",\"created_other\":" + std::to_string(t.created_other) + "}";
}

}  // namespace ktsync
