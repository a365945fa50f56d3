#include "manifest/xattrs.h"

#include <algorithm>

namespace ktsync {

uint8_t XattrClassOf(std::string_view name) {
  if (name == "system.posix_acl_access" || name == "system.posix_acl_default") return kXattrAcl;
  // A bare prefix ("user.") is no name: the kernel refuses it.
  auto under = [&](std::string_view prefix) { return name.size() > prefix.size() && name.starts_with(prefix); };
  if (under("user.")) return kXattrUser;
  if (under("security.")) return kXattrSecurity;
  if (under("trusted.")) return kXattrTrusted;
  return 0;
}

uint8_t XattrClassesIn(const Xattrs& xs) {
  uint8_t c = 0;
  for (const Xattr& x : xs) c |= XattrClassOf(x.name);
  return c;
}

size_t XattrBytes(const Xattrs& xs) {
  size_t n = 0;
  for (const Xattr& x : xs) n += x.name.size() + x.value.size();
  return n;
}

std::string XattrsProblem(const Xattrs& xs) {
  if (xs.size() > kMaxXattrCount)
    return std::to_string(xs.size()) + " extended attributes, the limit is " + std::to_string(kMaxXattrCount);
  for (size_t i = 0; i < xs.size(); ++i) {
    const Xattr& x = xs[i];
    if (x.name.size() > kMaxXattrNameBytes) return "an extended attribute name is over 255 bytes";
    if (x.name.find('\0') != std::string::npos) return "an extended attribute name contains a NUL byte";
    if (XattrClassOf(x.name) == 0) return "extended attribute name \"" + x.name.substr(0, 64) + "\" is not copied";
    if (x.value.size() > kMaxXattrValueBytes) return "extended attribute " + x.name + " is over 64 KiB";
    if (i > 0 && xs[i - 1].name >= x.name) return "extended attributes not sorted by name, or repeated";
  }
  if (size_t n = XattrBytes(xs); n > kMaxXattrBytes)
    return "extended attributes total " + std::to_string(n) + " bytes, ktsync's limit is " +
           std::to_string(kMaxXattrBytes);
  return "";
}

bool XattrsEqualIn(const Xattrs& a, const Xattrs& b, uint8_t classes) {
  return classes == 0 || (a.empty() && b.empty()) || DiffXattrs(a, b, classes).empty();
}

XattrEdit DiffXattrs(const Xattrs& want, const Xattrs& have, uint8_t classes) {
  XattrEdit edit;
  auto in = [&](const Xattr& x) { return (XattrClassOf(x.name) & classes) != 0; };
  auto w = want.begin(), h = have.begin();
  while (w != want.end() || h != have.end()) {
    if (h == have.end() || (w != want.end() && w->name < h->name)) {
      if (in(*w)) edit.set.push_back(&*w);
      ++w;
    } else if (w == want.end() || h->name < w->name) {
      if (in(*h)) edit.remove.push_back(h->name);
      ++h;
    } else {
      if (in(*w) && w->value != h->value) edit.set.push_back(&*w);
      ++w;
      ++h;
    }
  }
  return edit;
}

std::string XattrClassNames(uint8_t classes) {
  std::string out;
  auto add = [&](uint8_t c, const char* name) {
    if (!(classes & c)) return;
    if (!out.empty()) out += ", ";
    out += name;
  };
  add(kXattrUser, "user.*");
  add(kXattrSecurity, "security.*");
  add(kXattrTrusted, "trusted.*");
  add(kXattrAcl, "ACLs");
  return out;
}

void XattrLosses::Add(uint8_t classes, std::string_view path) {
  std::lock_guard lock(mu_);
  if (entries_++ == 0) first_ = path.empty() ? "." : std::string(path);
  classes_ |= classes;
}

std::string XattrLosses::Describe(std::string_view why) const {
  std::lock_guard lock(mu_);
  if (entries_ == 0) return "";
  return XattrClassNames(classes_) + " of " + std::to_string(entries_) + (entries_ == 1 ? " entry" : " entries") +
         " not copied: " + std::string(why) + " (first: " + first_ + ")";
}

}  // namespace ktsync
