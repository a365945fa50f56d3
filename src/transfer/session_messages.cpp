#include "transfer/session_messages.h"

#include <cmath>

#include "transfer/byte_io.h"

namespace ktsync {
namespace {

enum RequestFlag : uint32_t {
  kFlagChecksum = 1 << 0,
  kFlagDelete = 1 << 1,
  kFlagHardLinks = 1 << 2,
  kFlagOwner = 1 << 3,
  kFlagGroup = 1 << 4,
  kFlagTimes = 1 << 5,
  kFlagPerms = 1 << 6,
  kFlagDryRun = 1 << 7,
  kFlagOneFs = 1 << 8,
  kFlagFsync = 1 << 9,
  kFlagDeleteOnError = 1 << 10,
  kFlagNoKtls = 1 << 11,
  kFlagNoEncryption = 1 << 12,
  kFlagRequireKtls = 1 << 13,
  kFlagWantItems = 1 << 14,
  kFlagMaxDelete = 1 << 15,
  kFlagMaxDeletePercent = 1 << 16,
  kFlagXattrs = 1 << 17,
  kFlagAcls = 1 << 18,
  kFlagSkipChanging = 1 << 19,
  kFlagUpdateOnly = 1 << 20,
  kFlagIgnoreExisting = 1 << 21,
  kFlagExistingOnly = 1 << 22,
  kFlagSizeOnly = 1 << 23,
  kFlagSafeLinks = 1 << 24,
  kFlagForceDelete = 1 << 25,
  kFlagComparedFirst = 1 << 26,
  kFlagFileList = 1 << 27,           // pull: FileList frames follow the Request (wire.h)
  kFlagFileListRecursive = 1 << 28,  // and its listed directories are descended (-r)
  kFlagCopyLinks = 1 << 29,
  kAllFlags = (1 << 30) - 1,
};

uint32_t Flags(const SessionRequest& r) {
  uint32_t f = 0;
  auto set = [&f](bool on, uint32_t bit) { f |= on ? bit : 0; };
  const MirrorSpec& m = r.spec;
  set(m.plan.checksum, kFlagChecksum);
  set(m.plan.delete_extraneous, kFlagDelete);
  set(m.plan.hard_links, kFlagHardLinks);
  set(m.plan.owner, kFlagOwner);
  set(m.plan.group, kFlagGroup);
  set(m.plan.times, kFlagTimes);
  set(m.plan.perms, kFlagPerms);
  set(m.dry_run, kFlagDryRun);
  set(m.one_file_system, kFlagOneFs);
  set(m.fsync, kFlagFsync);
  set(m.deletes.delete_on_error, kFlagDeleteOnError);
  set(r.no_ktls, kFlagNoKtls);
  set(r.no_encryption, kFlagNoEncryption);
  set(r.require_ktls, kFlagRequireKtls);
  set(r.want_items, kFlagWantItems);
  set(m.deletes.max_delete.has_value(), kFlagMaxDelete);
  set(m.deletes.max_delete_percent.has_value(), kFlagMaxDeletePercent);
  set((m.plan.xattrs & kXattrPlain) != 0, kFlagXattrs);
  set((m.plan.xattrs & kXattrAcl) != 0, kFlagAcls);
  set(m.skip_changing_files, kFlagSkipChanging);
  set(m.plan.update_only, kFlagUpdateOnly);
  set(m.plan.ignore_existing, kFlagIgnoreExisting);
  set(m.plan.existing_only, kFlagExistingOnly);
  set(m.plan.size_only, kFlagSizeOnly);
  set(m.safe_links, kFlagSafeLinks);
  set(m.deletes.force_delete, kFlagForceDelete);
  set(m.deletes.compared_first, kFlagComparedFirst);
  set(r.file_list, kFlagFileList);
  set(r.file_list_recursive, kFlagFileListRecursive);
  set(m.copy_links, kFlagCopyLinks);
  return f;
}

void SetFlags(uint32_t f, SessionRequest& r) {
  MirrorSpec& m = r.spec;
  m.plan.checksum = f & kFlagChecksum;
  m.plan.delete_extraneous = f & kFlagDelete;
  m.plan.hard_links = f & kFlagHardLinks;
  m.plan.owner = f & kFlagOwner;
  m.plan.group = f & kFlagGroup;
  m.plan.times = f & kFlagTimes;
  m.plan.perms = f & kFlagPerms;
  m.dry_run = f & kFlagDryRun;
  m.one_file_system = f & kFlagOneFs;
  m.fsync = f & kFlagFsync;
  m.deletes.delete_on_error = f & kFlagDeleteOnError;
  r.no_ktls = f & kFlagNoKtls;
  r.no_encryption = f & kFlagNoEncryption;
  r.require_ktls = f & kFlagRequireKtls;
  r.want_items = f & kFlagWantItems;
  m.plan.xattrs = static_cast<uint8_t>(((f & kFlagXattrs) ? kXattrPlain : 0) | ((f & kFlagAcls) ? kXattrAcl : 0));
  m.skip_changing_files = f & kFlagSkipChanging;
  m.plan.update_only = f & kFlagUpdateOnly;
  m.plan.ignore_existing = f & kFlagIgnoreExisting;
  m.plan.existing_only = f & kFlagExistingOnly;
  m.plan.size_only = f & kFlagSizeOnly;
  m.safe_links = f & kFlagSafeLinks;
  m.deletes.force_delete = f & kFlagForceDelete;
  m.deletes.compared_first = f & kFlagComparedFirst;
  r.file_list = f & kFlagFileList;
  r.file_list_recursive = f & kFlagFileListRecursive;
  m.copy_links = f & kFlagCopyLinks;
}

// Size limits, --chmod rules and --chown names: what DST gets instead of SRC's own.
void EncodeTweaks(const MirrorSpec& m, ByteWriter& w) {
  w.U64(m.plan.min_size);
  w.U64(m.plan.max_size);
  w.U32(static_cast<uint32_t>(m.chmod.size()));
  for (const ChmodRule& r : m.chmod) {
    w.U8(r.flags);
    w.U16(r.keep);
    w.U16(r.add);
  }
  w.Str8(m.chown_user);
  w.Str8(m.chown_group);
}

void DecodeTweaks(ByteReader& rd, MirrorSpec& m) {
  m.plan.min_size = rd.U64("min size");
  m.plan.max_size = rd.U64("max size");
  uint32_t n = rd.Count(kMaxChmodRules, 5, "chmod rule count");
  for (uint32_t i = 0; i < n; ++i) {
    ChmodRule r{rd.U8("chmod flags"), rd.U16("chmod keep"), rd.U16("chmod add")};
    bool both = (r.flags & ChmodRule::kDirsOnly) && (r.flags & ChmodRule::kFilesOnly);
    if ((r.flags & ~ChmodRule::kAllFlags) || both || r.keep > 07777 || r.add > 07777) rd.Fail("bad chmod rule");
    m.chmod.push_back(r);
  }
  m.chown_user = std::string(rd.Str8(255, "chown user"));
  m.chown_group = std::string(rd.Str8(255, "chown group"));
}

// --max-delete-percent travels as millionths of a percent: no floating point on the wire.
constexpr double kPercentUnits = 1e6;

}  // namespace

void EncodeRequest(const SessionRequest& r, std::string& out) {
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(r.role));
  w.Str16(r.path);
  w.U32(Flags(r));
  w.I64(r.spec.plan.mtime_tolerance_ns);
  w.U64(r.spec.deletes.max_delete.value_or(0));
  // Rounded, not truncated: 3e-6 * 1e6 is 2.9999999999999996, and must travel as 3.
  w.U64(static_cast<uint64_t>(std::llround(r.spec.deletes.max_delete_percent.value_or(0) * kPercentUnits)));
  EncodeTweaks(r.spec, w);
  w.U8(r.spec.delete_excluded ? 1 : 0);
  w.U32(static_cast<uint32_t>(r.spec.filters.size()));
  for (const FilterRule& f : r.spec.filters) {
    w.U8(static_cast<uint8_t>(f.kind));
    w.U16(f.mods);
    w.Str16(f.pattern);
  }
  w.U16(r.streams);
  w.U16(r.data_port);
  w.U64(r.bwlimit);
  w.U8(static_cast<uint8_t>(r.data_via));
  w.U8(static_cast<uint8_t>(r.compress_level));
  w.Raw(r.data_key.data(), r.data_key.size());
}

SessionRequest DecodeRequest(std::string_view payload) {
  ByteReader rd(payload, "Request");
  SessionRequest r;
  uint8_t role = rd.U8("role");
  if (role != 1 && role != 2) rd.Fail("unknown role " + std::to_string(role));
  r.role = static_cast<ServerRole>(role);
  r.path = std::string(rd.Str16(kMaxPathBytes, "path"));
  uint32_t flags = rd.U32("flags");
  if (flags & ~static_cast<uint32_t>(kAllFlags)) rd.Fail("unknown option flags");
  // Only a server that holds SRC scans it, so only a pull's can use a list.
  if ((flags & kFlagFileList) && role != static_cast<uint8_t>(ServerRole::Send)) rd.Fail("a file list for a push");
  if ((flags & kFlagFileListRecursive) && !(flags & kFlagFileList)) rd.Fail("file list recursion without a list");
  SetFlags(flags, r);
  r.spec.plan.mtime_tolerance_ns = rd.I64("modify window");
  if (r.spec.plan.mtime_tolerance_ns < 0) rd.Fail("negative modify window");
  uint64_t max_delete = rd.U64("max delete");
  uint64_t percent = rd.U64("max delete percent");
  if (percent > 100 * kPercentUnits) rd.Fail("max delete percent above 100");
  // One encoding per message: a limit's value travels only with its flag.
  if (max_delete != 0 && !(flags & kFlagMaxDelete)) rd.Fail("max delete value without its flag");
  if (percent != 0 && !(flags & kFlagMaxDeletePercent)) rd.Fail("max delete percent value without its flag");
  if (flags & kFlagMaxDelete) r.spec.deletes.max_delete = max_delete;
  if (flags & kFlagMaxDeletePercent) r.spec.deletes.max_delete_percent = static_cast<double>(percent) / kPercentUnits;
  DecodeTweaks(rd, r.spec);
  uint8_t delete_excluded = rd.U8("delete excluded");
  if (delete_excluded > 1) rd.Fail("bad delete-excluded value");
  r.spec.delete_excluded = delete_excluded == 1;
  uint32_t n = rd.Count(kMaxFilterRules, 5, "filter count");
  for (uint32_t i = 0; i < n; ++i) {
    uint8_t kind = rd.U8("filter kind");
    if (kind > static_cast<uint8_t>(RuleKind::DirMerge)) rd.Fail("bad filter kind");
    uint16_t mods = rd.U16("filter modifiers");
    if (mods & ~kAllRuleMods) rd.Fail("unknown filter modifiers");
    std::string pattern(rd.Str16(kMaxPatternBytes, "filter pattern"));
    if (pattern.empty()) rd.Fail("empty filter pattern");
    r.spec.filters.push_back({static_cast<RuleKind>(kind), mods, std::move(pattern)});
  }
  r.streams = rd.U16("streams");
  if (r.streams < 1 || r.streams > kMaxStreams) rd.Fail("stream count out of range");
  r.data_port = rd.U16("data port");
  r.bwlimit = rd.U64("bwlimit");
  uint8_t via = rd.U8("data via");
  if (via > static_cast<uint8_t>(DataVia::Ssh)) rd.Fail("unknown data route " + std::to_string(via));
  r.data_via = static_cast<DataVia>(via);
  r.compress_level = rd.U8("compress level");
  if (r.compress_level > kMaxCompressLevel) rd.Fail("compress level above " + std::to_string(kMaxCompressLevel));
  std::string_view key = rd.Raw(r.data_key.size(), "data key");
  std::copy(key.begin(), key.end(), r.data_key.begin());
  rd.ExpectEnd();
  return r;
}

void EncodeReady(const SessionReady& r, std::string& out) {
  ByteWriter w(out);
  w.U16(r.data_port);
  w.Str8(r.data_host);
  w.Raw(r.token.data(), r.token.size());
  w.Str16(r.send_ktls_unavailable.substr(0, kMaxErrorMessageBytes));
}

SessionReady DecodeReady(std::string_view payload) {
  ByteReader rd(payload, "Ready");
  SessionReady r;
  r.data_port = rd.U16("data port");
  r.data_host = std::string(rd.Str8(255, "data host"));
  std::string_view t = rd.Raw(r.token.size(), "token");
  std::copy(t.begin(), t.end(), r.token.begin());
  r.send_ktls_unavailable = std::string(rd.Str16(kMaxErrorMessageBytes, "kTLS note"));
  rd.ExpectEnd();
  return r;
}

void EncodeDataRoute(DataRoute r, std::string& out) { ByteWriter(out).U8(static_cast<uint8_t>(r)); }

DataRoute DecodeDataRoute(std::string_view payload) {
  ByteReader rd(payload, "DataRoute");
  uint8_t r = rd.U8("route");
  if (r > static_cast<uint8_t>(DataRoute::Ssh)) rd.Fail("unknown data route " + std::to_string(r));
  rd.ExpectEnd();
  return static_cast<DataRoute>(r);
}

void EncodeReport(const SessionReport& r, std::string& out) {
  ByteWriter w(out);
  w.U8(r.kind);
  w.Str16(r.key);
  w.Str16(r.message.size() > kMaxErrorMessageBytes ? r.message.substr(0, kMaxErrorMessageBytes) : r.message);
}

SessionReport DecodeReport(std::string_view payload) {
  ByteReader rd(payload, "Report");
  SessionReport r;
  uint8_t k = rd.U8("kind");
  if (k > SessionReport::Note) rd.Fail("unknown report kind");
  r.kind = static_cast<SessionReport::Kind>(k);
  r.key = std::string(rd.Str16(kMaxPathBytes, "key"));
  r.message = std::string(rd.Str16(kMaxErrorMessageBytes, "message"));
  rd.ExpectEnd();
  return r;
}

void PeerEnd::Add(SessionReport r) {
  if (budget_.Admit(r.key.size() + r.message.size())) {
    reports.push_back(std::move(r));
  } else {
    ++reports_dropped;
  }
}

}  // namespace ktsync
