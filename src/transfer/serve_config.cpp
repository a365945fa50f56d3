#include "transfer/serve_config.h"

#include <algorithm>
#include <charconv>

#include "transfer/control.h"
#include "util/error.h"

namespace ktsync {
namespace {

constexpr size_t kMaxModuleName = 64;
constexpr int kMaxModuleSessions = 1024;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool ValidName(std::string_view n) {
  return !n.empty() && n.size() <= kMaxModuleName && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// One module's `key = value` lines, checked as they come.
class ConfigReader {
 public:
  explicit ConfigReader(const std::string& file_name) : file_(file_name) {}

  void Line(int number, std::string_view line) {
    line_ = number;
    line = Trim(line);
    if (line.empty() || line.front() == '#') return;
    if (line.front() == '[') return Section(line);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) Fail("expected [module] or key = value");
    if (modules_.empty()) Fail("a setting before the first [module]");
    Set(Trim(line.substr(0, eq)), Trim(line.substr(eq + 1)));
  }

  std::vector<Module> Finish() {
    CheckLast();
    if (modules_.empty()) throw Error(ExitCode::Usage, file_ + ": no [module] sections; a daemon needs at least one");
    return std::move(modules_);
  }

 private:
  [[noreturn]] void Fail(const std::string& why) const {
    throw Error(ExitCode::Usage, file_ + ":" + std::to_string(line_) + ": " + why);
  }

  void Section(std::string_view line) {
    if (line.back() != ']') Fail("a section line is [name]");
    std::string_view name = Trim(line.substr(1, line.size() - 2));
    if (!ValidName(name)) Fail("module name '" + std::string(name) + "': use 1-64 of A-Z a-z 0-9 . _ -");
    CheckLast();
    for (const Module& m : modules_)
      if (m.name == name) Fail("module [" + std::string(name) + "] is defined twice");
    modules_.push_back(Module{std::string(name), "", "", false, false, {false, false, false}, 0, false});
    start_ = line_;
  }

  void CheckLast() const {
    if (modules_.empty()) return;
    const Module& m = modules_.back();
    std::string where = file_ + ":" + std::to_string(start_) + ": module [" + m.name + "]";
    if (m.root.empty()) throw Error(ExitCode::Usage, where + " has no path = /dir");
    if (m.secret_file.empty()) throw Error(ExitCode::Usage, where + " has no secret file = FILE");
  }

  void Set(std::string_view key, std::string_view value) {
    Module& m = modules_.back();
    if (key == "path") {
      if (value.empty() || value.front() != '/') Fail("path must be absolute");
      m.root = value;
    } else if (key == "secret file") {
      if (value.empty()) Fail("secret file needs a file name");
      m.secret_file = value;
    } else if (key == "access") {
      if (value != "read-write" && value != "read-only" && value != "write-only")
        Fail("access is read-write, read-only or write-only, not '" + std::string(value) + "'");
      m.read_only = value == "read-only";
      m.write_only = value == "write-only";
    } else if (key == "allow devices") {
      m.limits.devices = YesNo(value);
    } else if (key == "allow setid") {
      m.limits.setid = YesNo(value);
    } else if (key == "allow owners") {
      m.limits.owners = YesNo(value);
    } else if (key == "fake super") {
      m.fake_super = YesNo(value);
    } else if (key == "max sessions") {
      int n = -1;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 0 || n > kMaxModuleSessions)
        Fail("max sessions is a number from 0 to " + std::to_string(kMaxModuleSessions));
      m.max_sessions = n;
    } else {
      Fail("unknown setting '" + std::string(key) +
           "' (path, secret file, access, allow devices, allow setid, allow owners, fake super, max sessions)");
    }
  }

  bool YesNo(std::string_view v) const {
    if (v == "yes" || v == "true") return true;
    if (v == "no" || v == "false") return false;
    Fail("expected yes or no, not '" + std::string(v) + "'");
  }

  const std::string& file_;
  int line_ = 0;
  int start_ = 0;
  std::vector<Module> modules_;
};

std::string_view FirstComponent(std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return path.substr(0, path.find('/'));
}

}  // namespace

std::vector<Module> ParseServeConfig(std::string_view text, const std::string& file_name) {
  ConfigReader reader(file_name);
  int number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    reader.Line(++number, text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return reader.Finish();
}

std::string DaemonIdentityFor(std::string_view path) {
  std::string_view module = FirstComponent(path);
  return module.empty() ? kDaemonIdentity : std::string(kDaemonIdentity) + "/" + std::string(module);
}

const Module* ModuleFor(const std::vector<Module>& modules, std::string_view identity) {
  if (modules.size() == 1 && modules[0].name.empty()) {
    bool ours = identity == kDaemonIdentity || identity.starts_with(std::string(kDaemonIdentity) + "/");
    return ours ? &modules[0] : nullptr;
  }
  std::string prefix = std::string(kDaemonIdentity) + "/";
  if (!identity.starts_with(prefix)) return nullptr;
  identity.remove_prefix(prefix.size());
  for (const Module& m : modules)
    if (m.name == identity) return &m;
  return nullptr;
}

std::optional<std::string> PathInModule(const std::string& name, std::string_view path) {
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (name.empty()) return std::string(path);
  if (FirstComponent(path) != name) return std::nullopt;
  path.remove_prefix(name.size());
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return std::string(path);
}

}  // namespace ktsync
