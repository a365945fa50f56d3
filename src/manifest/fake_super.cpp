#include "manifest/fake_super.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>

namespace ktsync {
namespace {

bool IsStandIn(EntryType t) {
  return t == EntryType::CharDev || t == EntryType::BlockDev || t == EntryType::Fifo || t == EntryType::Socket;
}

template <typename T>
bool Number(std::string_view& in, int base, T* out, char stop) {
  auto [end, ec] = std::from_chars(in.data(), in.data() + in.size(), *out, base);
  if (ec != std::errc() || end == in.data()) return false;
  in.remove_prefix(static_cast<size_t>(end - in.data()));
  if (stop == '\0') return in.empty();
  if (in.empty() || in.front() != stop) return false;
  in.remove_prefix(1);
  return true;
}

}  // namespace

std::string EncodeFakeStat(const Entry& e) {
  char mode[8];
  auto [end, ec] = std::to_chars(mode, mode + sizeof mode, e.mode & 07777, 8);
  std::string out = std::to_string(static_cast<int>(e.type)) + " " + std::string(mode, end) + " " +
                    std::to_string(e.uid) + ":" + std::to_string(e.gid);
  if (e.type == EntryType::CharDev || e.type == EntryType::BlockDev) out += " " + std::to_string(e.rdev());
  return out;
}

bool ApplyFakeStat(std::string_view v, Entry& e) {
  int type = 0;
  uint32_t mode = 0, uid = 0, gid = 0;
  uint64_t rdev = 0;
  if (!Number(v, 10, &type, ' ') || type < 1 || type > static_cast<int>(EntryType::BlockDev)) return false;
  auto t = static_cast<EntryType>(type);
  bool device = t == EntryType::CharDev || t == EntryType::BlockDev;
  if (!Number(v, 8, &mode, ' ') || mode > 07777 || !Number(v, 10, &uid, ':') ||
      !Number(v, 10, &gid, device ? ' ' : '\0') || (device && !Number(v, 10, &rdev, '\0')))
    return false;
  if (PhysicalType(t) != e.type || (IsStandIn(t) && e.size != 0)) return false;
  e.type = t;
  e.mode = mode;
  e.uid = uid;
  e.gid = gid;
  if (device) e.set_rdev(rdev);
  return true;
}

EntryType PhysicalType(EntryType logical) { return IsStandIn(logical) ? EntryType::File : logical; }

uint32_t PhysicalMode(const Entry& logical) {
  uint32_t bits = logical.mode & 01777;  // no setuid/setgid on disk
  return bits | (logical.IsDir() ? S_IRWXU : S_IRUSR | S_IWUSR);
}

void StripFakeStat(Xattrs& xs) {
  std::erase_if(xs, [](const Xattr& x) { return x.name == kFakeSuperXattr; });
}

void StripFakeStat(Entry& e) {
  const Xattrs& xs = e.xattrs();
  if (std::none_of(xs.begin(), xs.end(), [](const Xattr& x) { return x.name == kFakeSuperXattr; })) return;
  Xattrs kept = xs;
  StripFakeStat(kept);
  e.set_xattrs(std::move(kept));
}

}  // namespace ktsync
