// Extended attributes as a manifest records them, and the pure decisions about them.
//
// Contract: an entry's Xattrs are sorted by name, names unique, each name in one of the
// classes below; POSIX ACLs are the xattrs system.posix_acl_access/_default (ktsync maps
// owners by number, so their raw values are exact) and count as class Acl, not Xattr.
// Other system.* names (inline data, NFSv4 ACLs) belong to the filesystem, never copied.
// The limits hold for scans and for every entry a peer sends (wire.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

struct Xattr {
  std::string name;
  std::string value;
  bool operator==(const Xattr&) const = default;
};
using Xattrs = std::vector<Xattr>;

enum XattrClass : uint8_t {
  kXattrUser = 1,      // user.*
  kXattrSecurity = 2,  // security.* (capabilities, SELinux labels)
  kXattrTrusted = 4,   // trusted.*
  kXattrAcl = 8,       // system.posix_acl_access, system.posix_acl_default
};
inline constexpr uint8_t kXattrPlain = kXattrUser | kXattrSecurity | kXattrTrusted;  // -X
inline constexpr uint8_t kXattrAll = kXattrPlain | kXattrAcl;

// What an unprivileged process may set: security.* and trusted.* need capabilities.
inline constexpr uint8_t kXattrUnprivileged = kXattrUser | kXattrAcl;

// Linux's own limits (XATTR_NAME_MAX, XATTR_SIZE_MAX), and ktsync's per entry: names and
// values together, as a peer's entry may hold in memory while it waits for its turn.
inline constexpr size_t kMaxXattrNameBytes = 255;
inline constexpr size_t kMaxXattrValueBytes = 65536;
inline constexpr size_t kMaxXattrCount = 1024;
inline constexpr size_t kMaxXattrBytes = 65536;

// The class of a name; 0 for names ktsync does not copy (other system.*, unknown prefixes).
uint8_t XattrClassOf(std::string_view name);

// The classes among `xs`.
uint8_t XattrClassesIn(const Xattrs& xs);

// Sum of name and value sizes (what kMaxXattrBytes bounds).
size_t XattrBytes(const Xattrs& xs);

// Why `xs` is not a valid entry's set (unsorted, duplicate, empty or uncopied name, over a
// limit), or "" when it is.
std::string XattrsProblem(const Xattrs& xs);

// True when `a` and `b` agree on every name of the given classes.
bool XattrsEqualIn(const Xattrs& a, const Xattrs& b, uint8_t classes);

// What makes `have` into `want` (both sorted): names to set (new or different values) and
// names to remove, restricted to `classes`.
struct XattrEdit {
  std::vector<const Xattr*> set;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && remove.empty(); }
};
XattrEdit DiffXattrs(const Xattrs& want, const Xattrs& have, uint8_t classes);

// "user.*", "security.*", "trusted.*", "ACLs" for the classes in `classes`, comma-separated.
std::string XattrClassNames(uint8_t classes);

// Entries some of whose attributes were not copied, gathered for one warning per cause
// (never one line per file, never silence). Thread-safe.
class XattrLosses {
 public:
  void Add(uint8_t classes, std::string_view path);
  // "" when nothing was lost, else
  // "<classes> of N entries not copied: <why> (first: <path>)".
  std::string Describe(std::string_view why) const;

 private:
  mutable std::mutex mu_;
  uint64_t entries_ = 0;
  uint8_t classes_ = 0;
  std::string first_;
};

}  // namespace ktsync
