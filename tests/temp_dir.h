// TempDir: one fresh scratch directory per test, removed when the object goes out of scope,
// so a test that fails (an ASSERT returning early, an exception) still leaves nothing behind
// and no test sees another's leftovers.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace ktsync {

class TempDir {
 public:
  // Throws, rather than ASSERTs, so it also works as a fixture member; gtest reports the
  // exception as the test's failure.
  explicit TempDir(std::string_view prefix, const std::filesystem::path& parent = "/tmp") {
    const std::string pattern = (parent / prefix).string() + "-XXXXXX";
    std::string name = pattern;
    if (!::mkdtemp(name.data()))
      throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    path_ = name;
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (!ec) return;
    // Tests leave directories mode 0555, 0311, ...: as non-root those stop the removal
    // until they are opened up again (each before the walk descends into it).
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    for (fs::recursive_directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code ignored;
      if (it->is_directory(ignored) && !it->is_symlink(ignored))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignored);
    }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::filesystem::path& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

}  // namespace ktsync
