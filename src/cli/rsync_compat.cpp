#include "cli/rsync_compat.h"

#include <strings.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "util/error.h"

namespace ktsync {
namespace {

struct Refusal {
  const char* long_name;  // without "--"
  char short_name;        // 0: none
  const char* instead;
};

constexpr const char* kNoBackups =
    "ktsync keeps no backups: see what would change with -n -i, or keep DST's extra entries with --no-delete";
constexpr const char* kDstOnly = "ktsync compares SRC with DST only (no other reference directory)";
constexpr const char* kDirLinks = "ktsync follows no symlink to a directory alone: -L (--copy-links) follows them all in SRC";
constexpr const char* kWholeFiles =
    "ktsync sends whole files, each to a temporary name renamed into place when complete, so no reader sees "
    "half a file";

// rsync options that make no sense in ktsync.
constexpr Refusal kRefusals[] = {
    {"inplace", 0, kWholeFiles},
    {"append", 0, kWholeFiles},
    {"append-verify", 0, kWholeFiles},
    {"partial-dir", 0, kWholeFiles},
    {"delay-updates", 0, kWholeFiles},
    {"temp-dir", 'T', kWholeFiles},
    {"no-whole-file", 0, "ktsync always sends whole files (no delta transfer)"},
    {"no-W", 0, "ktsync always sends whole files (no delta transfer)"},
    {"backup", 'b', kNoBackups},
    {"backup-dir", 0, kNoBackups},
    {"suffix", 0, kNoBackups},
    {"compress-choice", 0, "ktsync compresses with zstd only: -z, --compress-level N"},
    {"zc", 0, "ktsync compresses with zstd only: -z, --compress-level N"},
    {"skip-compress", 0, "ktsync's -z sends data that does not shrink as it is"},
    {"checksum-choice", 0, "ktsync always hashes with XXH3-128"},
    {"cc", 0, "ktsync always hashes with XXH3-128"},
    {"remove-source-files", 0, "ktsync never changes SRC"},
    {"relative", 'R', "ktsync mirrors one directory's contents: name the subdirectory in SRC and DST"},
    {"ignore-times", 'I', "ktsync skips files whose size and mtime match; -c (--checksum) compares content"},
    {"link-dest", 0, kDstOnly},
    {"copy-dest", 0, kDstOnly},
    {"compare-dest", 0, kDstOnly},
    {"fuzzy", 'y', kDstOnly},
    {"keep-dirlinks", 'K', kDirLinks},
    {"copy-dirlinks", 'k', kDirLinks},
    {"copy-unsafe-links", 0, "ktsync mirrors symlinks as they are; --safe-links leaves out those that point out of SRC"},
    {"munge-links", 0, "ktsync mirrors symlinks as they are; --safe-links leaves out those that point out of SRC"},
    {"omit-dir-times", 'O', "ktsync mirrors every mtime"},
    {"omit-link-times", 'J', "ktsync mirrors every mtime"},
    {"prune-empty-dirs", 'm', "ktsync mirrors every directory"},
    {"usermap", 0, "ktsync maps owners by number; --chown USER:GROUP gives every entry one owner"},
    {"groupmap", 0, "ktsync maps owners by number; --chown USER:GROUP gives every entry one owner"},
    {"super", 0, "ktsync keeps owners, devices and setid bits whenever DST's side runs as root"},
    {"fake-super", 0, "a ktsync daemon keeps them in an xattr: ktsync serve --fake-super"},
    {"daemon", 0, "a daemon is 'ktsync serve --listen PORT'"},
    {"port", 0, "name the daemon's port in SRC or DST: ktsync://host:PORT/path"},
    {"password-file", 0, "a ktsync daemon's secret comes from --secret-file FILE"},
    {"list-only", 0, "-n -i lists what a mirror would change"},
    {"write-batch", 0, "ktsync has no batch files: mirror to each destination"},
    {"only-write-batch", 0, "ktsync has no batch files: mirror to each destination"},
    {"read-batch", 0, "ktsync has no batch files: mirror to each destination"},
    {"cvs-exclude", 'C', "ktsync has no CVS rules: name the patterns with --exclude or a filter file"},
};

[[noreturn]] void Refuse(const std::string& spelled, const Refusal& r) {
  throw Error(ExitCode::Usage, "rsync's " + spelled + " is not a ktsync option: " + r.instead);
}

void CheckLong(const std::string& arg) {
  std::string_view name = std::string_view(arg).substr(2);
  name = name.substr(0, name.find('='));
  for (const Refusal& r : kRefusals)
    if (name == r.long_name) Refuse("--" + std::string(name), r);
}

// A group of short flags ("-avb"). A flag that takes a value ("-f", "-e") ends the group:
// the rest of the word, or else the next word, is that value (*value_next says which).
std::string CheckShortGroup(const std::string& arg, const TakesValue& takes_value, bool* value_next) {
  std::string kept = "-";
  *value_next = false;
  for (size_t i = 1; i < arg.size(); ++i) {
    char c = arg[i];
    for (const Refusal& r : kRefusals)
      if (r.short_name != 0 && c == r.short_name) Refuse(std::string("-") + c, r);
    if (c != 'h') kept += c;
    if (takes_value(std::string("-") + c)) {
      *value_next = i + 1 == arg.size();
      return kept + arg.substr(i + 1);
    }
  }
  return kept;
}

}  // namespace

uint64_t ParseSize(const std::string& text, char default_unit, const std::string& option) {
  auto bad = [&] {
    return Error(ExitCode::Usage, option + " '" + text + "': expected a size like 500K, 1.5M, 2G or 100MB (rsync's units)");
  };
  const char* s = text.c_str();
  const char* p = s;
  while (*p >= '0' && *p <= '9') ++p;
  if (*p == '.')
    for (++p; *p >= '0' && *p <= '9';) ++p;
  if (p == s || (p == s + 1 && *s == '.')) throw bad();
  char unit = (*p && *p != '+' && *p != '-') ? *p++ : default_unit;
  const char* units = "bkmgtp";
  const char* at = std::strchr(units, std::tolower(static_cast<unsigned char>(unit)));
  if (unit == 0 || at == nullptr) throw bad();
  double mult = 1024;
  if (*p == 'b' || *p == 'B') {
    mult = 1000;
    ++p;
  } else if (strncasecmp(p, "ib", 2) == 0) {
    p += 2;
  } else if (*p && *p != '+' && *p != '-') {
    throw bad();
  }
  double size = std::pow(mult, static_cast<double>(at - units)) * std::strtod(s, nullptr);
  if ((*p == '+' || *p == '-') && p[1] == '1') {
    size += *p == '-' ? -1 : 1;
    p += 2;
  }
  if (*p || !std::isfinite(size) || size < 0 || size >= 18446744073709551616.0) throw bad();
  return static_cast<uint64_t>(size);
}

uint64_t ParseRate(const std::string& text) {
  uint64_t rate = ParseSize(text, 'K', "--bwlimit");
  if (rate != 0 && rate < 512)
    throw Error(ExitCode::Usage, "--bwlimit '" + text + "': below 512 bytes/s (a bare number is KiB/s; 0: no limit)");
  return rate;
}

std::vector<std::string> MirrorArgs(const std::vector<std::string>& args, const TakesValue& takes_value) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.insert(out.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    bool value_next = false;
    if (a.starts_with("--")) {
      CheckLong(a);
      out.push_back(a);
      value_next = a.find('=') == std::string::npos && takes_value(a);
    } else if (a.size() >= 2 && a[0] == '-') {
      std::string group = CheckShortGroup(a, takes_value, &value_next);
      out.push_back(a.size() == 2 ? a : group);
    } else {
      out.push_back(a);
    }
    // An option's value goes through as it is, whatever it starts with ("-f '- *.html'").
    if (value_next && i + 1 < args.size()) out.push_back(args[++i]);
  }
  return out;
}

}  // namespace ktsync
