// links: ktsync_transfer
#include "transfer/session_messages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "transfer/byte_io.h"
#include "util/error.h"

namespace ktsync {
namespace {

// Runs `fn`, which must throw a StreamData error whose message contains `needle`.
template <typename Fn>
void ExpectProtocolError(const std::string& needle, Fn fn) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one containing \"" << needle << "\"";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(ExitCode::StreamData)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

SessionRequest FullRequest() {
  SessionRequest r;
  r.role = ServerRole::Receive;
  r.path = "/srv/backup/dir with spaces/\xff\n";
  r.spec.plan.mtime_tolerance_ns = 2'000'000'000;
  r.spec.deletes.max_delete = 12345;
  r.spec.deletes.max_delete_percent = 12.5;
  r.spec.filters = {ExcludeRule("*.tmp"), IncludeRule("keep/**"), ExcludeRule(std::string("odd\0byte", 8)),
                    {RuleKind::DirMerge, kMergeNoInherit | kRuleSender, ".rules"},
                    {RuleKind::Exclude, kRulePerishable | kRuleNegate | kRuleAbsPath, "x"}};
  r.spec.delete_excluded = true;
  r.spec.plan.min_size = 1;
  r.spec.plan.max_size = 1ull << 40;
  r.spec.chmod = {{ChmodRule::kDirsOnly, 07777, 02000}, {ChmodRule::kFilesOnly | ChmodRule::kExecIfAny, 07666, 0111}};
  r.spec.chown_user = std::string(255, 'u');
  r.spec.chown_group = "staff";
  r.streams = kMaxStreams;
  r.data_port = 65535;
  r.bwlimit = 123456789012345ull;
  r.data_via = DataVia::Ssh;
  r.compress_level = kMaxCompressLevel;
  for (size_t i = 0; i < r.data_key.size(); ++i) r.data_key[i] = static_cast<unsigned char>(0xA0 + i);
  return r;
}

std::string Encoded(const SessionRequest& r) {
  std::string out;
  EncodeRequest(r, out);
  return out;
}

// Every boolean the Request carries as a flag bit, with a way to set it.
std::vector<std::pair<const char*, std::function<void(SessionRequest&, bool)>>> FlagSetters() {
  return {
      {"checksum", [](SessionRequest& r, bool v) { r.spec.plan.checksum = v; }},
      {"delete", [](SessionRequest& r, bool v) { r.spec.plan.delete_extraneous = v; }},
      {"hard_links", [](SessionRequest& r, bool v) { r.spec.plan.hard_links = v; }},
      {"owner", [](SessionRequest& r, bool v) { r.spec.plan.owner = v; }},
      {"group", [](SessionRequest& r, bool v) { r.spec.plan.group = v; }},
      {"times", [](SessionRequest& r, bool v) { r.spec.plan.times = v; }},
      {"perms", [](SessionRequest& r, bool v) { r.spec.plan.perms = v; }},
      {"dry_run", [](SessionRequest& r, bool v) { r.spec.dry_run = v; }},
      {"one_file_system", [](SessionRequest& r, bool v) { r.spec.one_file_system = v; }},
      {"fsync", [](SessionRequest& r, bool v) { r.spec.fsync = v; }},
      {"delete_on_error", [](SessionRequest& r, bool v) { r.spec.deletes.delete_on_error = v; }},
      {"no_ktls", [](SessionRequest& r, bool v) { r.no_ktls = v; }},
      {"no_encryption", [](SessionRequest& r, bool v) { r.no_encryption = v; }},
      {"require_ktls", [](SessionRequest& r, bool v) { r.require_ktls = v; }},
      {"want_items", [](SessionRequest& r, bool v) { r.want_items = v; }},
      {"xattrs", [](SessionRequest& r, bool v) {
         r.spec.plan.xattrs = static_cast<uint8_t>(v ? r.spec.plan.xattrs | kXattrPlain : r.spec.plan.xattrs & ~kXattrPlain);
       }},
      {"acls", [](SessionRequest& r, bool v) {
         r.spec.plan.xattrs = static_cast<uint8_t>(v ? r.spec.plan.xattrs | kXattrAcl : r.spec.plan.xattrs & ~kXattrAcl);
       }},
      {"skip_changing_files", [](SessionRequest& r, bool v) { r.spec.skip_changing_files = v; }},
      {"update_only", [](SessionRequest& r, bool v) { r.spec.plan.update_only = v; }},
      {"ignore_existing", [](SessionRequest& r, bool v) { r.spec.plan.ignore_existing = v; }},
      {"existing_only", [](SessionRequest& r, bool v) { r.spec.plan.existing_only = v; }},
      {"size_only", [](SessionRequest& r, bool v) { r.spec.plan.size_only = v; }},
      {"safe_links", [](SessionRequest& r, bool v) { r.spec.safe_links = v; }},
      {"force_delete", [](SessionRequest& r, bool v) { r.spec.deletes.force_delete = v; }},
      {"compared_first", [](SessionRequest& r, bool v) { r.spec.deletes.compared_first = v; }},
      {"copy_links", [](SessionRequest& r, bool v) { r.spec.copy_links = v; }},
  };
}

// PlanOptions has no operator==; compare what travels.
void ExpectSameRequest(const SessionRequest& a, const SessionRequest& b) {
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.path, b.path);
  const MirrorSpec& x = a.spec;
  const MirrorSpec& y = b.spec;
  EXPECT_EQ(x.plan.checksum, y.plan.checksum);
  EXPECT_EQ(x.plan.delete_extraneous, y.plan.delete_extraneous);
  EXPECT_EQ(x.plan.hard_links, y.plan.hard_links);
  EXPECT_EQ(x.plan.owner, y.plan.owner);
  EXPECT_EQ(x.plan.group, y.plan.group);
  EXPECT_EQ(x.plan.times, y.plan.times);
  EXPECT_EQ(x.plan.perms, y.plan.perms);
  EXPECT_EQ(x.plan.mtime_tolerance_ns, y.plan.mtime_tolerance_ns);
  EXPECT_EQ(x.plan.xattrs, y.plan.xattrs);
  EXPECT_EQ(x.dry_run, y.dry_run);
  EXPECT_EQ(x.one_file_system, y.one_file_system);
  EXPECT_EQ(x.fsync, y.fsync);
  EXPECT_EQ(x.skip_changing_files, y.skip_changing_files);
  EXPECT_EQ(x.plan.update_only, y.plan.update_only);
  EXPECT_EQ(x.plan.ignore_existing, y.plan.ignore_existing);
  EXPECT_EQ(x.plan.existing_only, y.plan.existing_only);
  EXPECT_EQ(x.plan.size_only, y.plan.size_only);
  EXPECT_EQ(x.plan.min_size, y.plan.min_size);
  EXPECT_EQ(x.plan.max_size, y.plan.max_size);
  EXPECT_EQ(x.chmod, y.chmod);
  EXPECT_EQ(x.chown_user, y.chown_user);
  EXPECT_EQ(x.chown_group, y.chown_group);
  EXPECT_EQ(x.safe_links, y.safe_links);
  EXPECT_EQ(x.copy_links, y.copy_links);
  EXPECT_EQ(x.deletes.delete_on_error, y.deletes.delete_on_error);
  EXPECT_EQ(x.deletes.max_delete, y.deletes.max_delete);
  EXPECT_EQ(x.deletes.max_delete_percent, y.deletes.max_delete_percent);
  EXPECT_EQ(x.deletes.force_delete, y.deletes.force_delete);
  EXPECT_EQ(x.deletes.compared_first, y.deletes.compared_first);
  EXPECT_EQ(a.no_ktls, b.no_ktls);
  EXPECT_EQ(a.no_encryption, b.no_encryption);
  EXPECT_EQ(a.require_ktls, b.require_ktls);
  EXPECT_EQ(a.want_items, b.want_items);
  EXPECT_EQ(x.filters, y.filters);
  EXPECT_EQ(x.delete_excluded, y.delete_excluded);
  EXPECT_EQ(a.streams, b.streams);
  EXPECT_EQ(a.data_port, b.data_port);
  EXPECT_EQ(a.bwlimit, b.bwlimit);
  EXPECT_EQ(a.data_via, b.data_via);
  EXPECT_EQ(a.compress_level, b.compress_level);
  EXPECT_EQ(a.data_key, b.data_key);
  EXPECT_EQ(a.file_list, b.file_list);
  EXPECT_EQ(a.file_list_recursive, b.file_list_recursive);
}

// Offsets inside an encoded Request whose path is `path_len` bytes long.
size_t FlagsOffset(size_t path_len) { return 1 + 2 + path_len; }
size_t WindowOffset(size_t path_len) { return FlagsOffset(path_len) + 4; }
size_t MaxDeletePercentOffset(size_t path_len) { return WindowOffset(path_len) + 8 + 8; }
size_t ChmodCountOffset(size_t path_len) { return MaxDeletePercentOffset(path_len) + 8 + 8 + 8; }
// Of a Request without --chmod rules or --chown names.
size_t DeleteExcludedOffset(size_t path_len) { return ChmodCountOffset(path_len) + 4 + 1 + 1; }
size_t FilterCountOffset(size_t path_len) { return DeleteExcludedOffset(path_len) + 1; }
// streams, data port, bwlimit, data via, compress level, key follow the filters.
size_t StreamsOffset(const std::string& encoded) { return encoded.size() - (2 + 2 + 8 + 1 + 1 + 32); }
size_t DataViaOffset(const std::string& encoded) { return encoded.size() - (1 + 1 + 32); }

void PutU32At(std::string& s, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[off + i] = static_cast<char>(v >> (8 * i));
}

TEST(SessionRequestTest, FullRequestRoundTrips) {
  SessionRequest r = FullRequest();
  SessionRequest back = DecodeRequest(Encoded(r));
  ExpectSameRequest(back, r);
}

TEST(SessionRequestTest, DefaultRequestRoundTrips) {
  SessionRequest r;
  ExpectSameRequest(DecodeRequest(Encoded(r)), r);
}

TEST(SessionRequestTest, EachFlagRoundTripsAloneAndTogether) {
  auto setters = FlagSetters();
  for (size_t i = 0; i < setters.size(); ++i) {
    SessionRequest r;
    for (auto& [name, set] : setters) set(r, false);
    setters[i].second(r, true);
    SCOPED_TRACE(setters[i].first);
    ExpectSameRequest(DecodeRequest(Encoded(r)), r);
    // And the complement: only this one off.
    for (auto& [name, set] : setters) set(r, true);
    setters[i].second(r, false);
    ExpectSameRequest(DecodeRequest(Encoded(r)), r);
  }
  SessionRequest all;
  for (auto& [name, set] : setters) set(all, true);
  ExpectSameRequest(DecodeRequest(Encoded(all)), all);
  SessionRequest none;
  for (auto& [name, set] : setters) set(none, false);
  ExpectSameRequest(DecodeRequest(Encoded(none)), none);
}

TEST(SessionRequestTest, EachFlagHasItsOwnBit) {
  auto setters = FlagSetters();
  std::vector<uint32_t> bits;
  for (auto& [name, set] : setters) {
    SessionRequest r;
    for (auto& [n2, s2] : setters) s2(r, false);
    set(r, true);
    std::string enc = Encoded(r);
    size_t off = FlagsOffset(r.path.size());
    uint32_t flags = 0;
    for (int i = 3; i >= 0; --i) flags = (flags << 8) | static_cast<uint8_t>(enc[off + i]);
    EXPECT_EQ(__builtin_popcount(flags), 1) << name;
    bits.push_back(flags);
  }
  std::sort(bits.begin(), bits.end());
  EXPECT_EQ(std::unique(bits.begin(), bits.end()), bits.end()) << "two flags share a bit";
}

TEST(SessionRequestTest, SendRoleAndEmptyFiltersRoundTrip) {
  SessionRequest r;
  r.role = ServerRole::Send;
  r.path = "rel/path";
  r.streams = 1;
  ExpectSameRequest(DecodeRequest(Encoded(r)), r);
}

TEST(SessionRequestTest, LongestPathAndPatternRoundTrip) {
  SessionRequest r;
  r.path = std::string(kMaxPathBytes, 'p');
  r.spec.filters = {IncludeRule(std::string(kMaxPatternBytes, 'x'))};
  ExpectSameRequest(DecodeRequest(Encoded(r)), r);
}

TEST(SessionRequestTest, RejectsUnknownRole) {
  for (uint8_t role : {0, 3, 255}) {
    std::string enc = Encoded(FullRequest());
    enc[0] = static_cast<char>(role);
    ExpectProtocolError("unknown role " + std::to_string(role), [&] { DecodeRequest(enc); });
  }
}

TEST(SessionRequestTest, RejectsUnknownFlagBits) {
  SessionRequest r = FullRequest();
  for (int bit : {30, 31}) {
    std::string enc = Encoded(r);
    size_t off = FlagsOffset(r.path.size());
    enc[off + bit / 8] = static_cast<char>(static_cast<uint8_t>(enc[off + bit / 8]) | (1u << (bit % 8)));
    ExpectProtocolError("unknown option flags", [&] { DecodeRequest(enc); });
  }
}

// --files-from's flags: only a pull's server scans SRC, and recursion needs a list.
TEST(SessionRequestTest, FileListFlagsRoundTripOnAPull) {
  SessionRequest r;
  r.role = ServerRole::Send;
  r.file_list = true;
  ExpectSameRequest(DecodeRequest(Encoded(r)), r);
  r.file_list_recursive = true;
  ExpectSameRequest(DecodeRequest(Encoded(r)), r);
}

TEST(SessionRequestTest, FileListFlagsAreRefusedOnAPushOrAlone) {
  SessionRequest push;
  push.role = ServerRole::Receive;
  push.file_list = true;
  ExpectProtocolError("a file list for a push", [&] { DecodeRequest(Encoded(push)); });
  SessionRequest alone;
  alone.file_list_recursive = true;
  ExpectProtocolError("recursion without a list", [&] { DecodeRequest(Encoded(alone)); });
}

TEST(SessionRequestTest, RejectsAMaxDeletePercentAbove100) {
  SessionRequest r = FullRequest();
  std::string enc = Encoded(r);
  size_t off = MaxDeletePercentOffset(r.path.size());
  uint64_t too_much = 100'000'001;  // millionths of a percent
  for (int i = 0; i < 8; ++i) enc[off + i] = static_cast<char>(too_much >> (8 * i));
  ExpectProtocolError("above 100", [&] { DecodeRequest(enc); });
}

// Found by the session fuzzer: a limit's value without its flag decoded, then encoded as 0.
TEST(SessionRequestTest, ALimitValueWithoutItsFlagIsRefused) {
  SessionRequest r = FullRequest();
  r.spec.deletes = {};
  std::string enc = Encoded(r);
  size_t off = MaxDeletePercentOffset(r.path.size());
  std::string count = enc, percent = enc;
  count[off - 8] = 5;  // max delete, whose u64 precedes the percent's
  percent[off] = 5;
  ExpectProtocolError("max delete value without its flag", [&] { DecodeRequest(count); });
  ExpectProtocolError("max delete percent value without its flag", [&] { DecodeRequest(percent); });
}

// Every percentage the wire can carry comes back as it went (millionths, rounded).
TEST(SessionRequestTest, PercentagesRoundTripExactly) {
  for (uint64_t units : {uint64_t{1}, uint64_t{3}, uint64_t{7}, uint64_t{123'456}, uint64_t{99'999'999}}) {
    SessionRequest r = FullRequest();
    r.spec.deletes.max_delete_percent = static_cast<double>(units) / 1e6;
    std::string enc = Encoded(r);
    EXPECT_EQ(Encoded(DecodeRequest(enc)), enc) << units;
  }
}

TEST(SessionRequestTest, AbsentLimitsStayAbsent) {
  SessionRequest r = FullRequest();
  r.spec.deletes = {};
  SessionRequest back = DecodeRequest(Encoded(r));
  EXPECT_FALSE(back.spec.deletes.max_delete);
  EXPECT_FALSE(back.spec.deletes.max_delete_percent);
}

TEST(SessionRequestTest, RejectsNegativeModifyWindow) {
  SessionRequest r = FullRequest();
  r.spec.plan.mtime_tolerance_ns = -1;
  ExpectProtocolError("negative modify window", [&] { DecodeRequest(Encoded(r)); });
  r.spec.plan.mtime_tolerance_ns = INT64_MIN;
  ExpectProtocolError("negative modify window", [&] { DecodeRequest(Encoded(r)); });
}

TEST(SessionRequestTest, RejectsTooManyFilters) {
  SessionRequest r;
  r.path = "p";
  r.spec.filters.assign(kMaxFilterRules + 1, ExcludeRule("x"));
  ExpectProtocolError("filter count", [&] { DecodeRequest(Encoded(r)); });
  // A count far larger than the bytes present is refused before anything is reserved.
  r.spec.filters.clear();
  std::string enc = Encoded(r);
  PutU32At(enc, FilterCountOffset(1), 1000);
  ExpectProtocolError("filter count", [&] { DecodeRequest(enc); });
}

TEST(SessionRequestTest, RejectsBadChmodRules) {
  SessionRequest r;
  r.path = "p";
  r.spec.chmod = {{0, 07777, 0}};
  size_t rule = ChmodCountOffset(1) + 4;
  auto with = [&](size_t off, uint8_t byte) {
    std::string enc = Encoded(r);
    enc[off] = static_cast<char>(byte);
    return enc;
  };
  ExpectProtocolError("bad chmod rule", [&] { DecodeRequest(with(rule, 8)); });  // unknown flag
  ExpectProtocolError("bad chmod rule", [&] { DecodeRequest(with(rule, 3)); });  // D and F
  ExpectProtocolError("bad chmod rule", [&] { DecodeRequest(with(rule + 2, 0x10)); });  // keep above 07777
  ExpectProtocolError("chmod rule count", [&] { DecodeRequest(with(ChmodCountOffset(1), kMaxChmodRules + 1)); });
}

TEST(SessionRequestTest, AcceptsExactlyTheFilterCap) {
  SessionRequest r;
  r.spec.filters.assign(kMaxFilterRules, IncludeRule("y"));
  EXPECT_EQ(DecodeRequest(Encoded(r)).spec.filters.size(), kMaxFilterRules);
}

TEST(SessionRequestTest, RejectsBadFilterKind) {
  SessionRequest r;
  r.path = "p";
  r.spec.filters = {IncludeRule("a")};
  for (uint8_t kind : {3, 0x80, 0xff}) {
    std::string enc = Encoded(r);
    enc[FilterCountOffset(1) + 4] = static_cast<char>(kind);
    ExpectProtocolError("bad filter kind", [&] { DecodeRequest(enc); });
  }
}

TEST(SessionRequestTest, RejectsUnknownFilterModifiersAndEmptyPatterns) {
  SessionRequest r;
  r.path = "p";
  r.spec.filters = {IncludeRule("a")};
  std::string enc = Encoded(r);
  enc[FilterCountOffset(1) + 4 + 2] = static_cast<char>(0x02);  // mods high byte: bit 9
  ExpectProtocolError("unknown filter modifiers", [&] { DecodeRequest(enc); });
  r.spec.filters = {IncludeRule("")};
  ExpectProtocolError("empty filter pattern", [&] { DecodeRequest(Encoded(r)); });
  r.spec.filters.clear();
  enc = Encoded(r);
  enc[DeleteExcludedOffset(1)] = 2;
  ExpectProtocolError("bad delete-excluded value", [&] { DecodeRequest(enc); });
}

TEST(SessionRequestTest, RejectsOverlongPathAndPattern) {
  SessionRequest r;
  r.path = std::string(kMaxPathBytes + 1, 'p');
  ExpectProtocolError("path length", [&] { DecodeRequest(Encoded(r)); });
  r.path = "p";
  r.spec.filters = {ExcludeRule(std::string(kMaxPatternBytes + 1, 'x'))};
  ExpectProtocolError("filter pattern length", [&] { DecodeRequest(Encoded(r)); });
}

TEST(SessionRequestTest, RejectsStreamCountOutOfRange) {
  for (uint16_t streams : {uint16_t{0}, uint16_t{kMaxStreams + 1}, uint16_t{65535}}) {
    SessionRequest r = FullRequest();
    r.streams = streams;
    std::string enc = Encoded(r);
    ExpectProtocolError("stream count out of range", [&] { DecodeRequest(enc); });
  }
  SessionRequest ok = FullRequest();
  std::string enc = Encoded(ok);
  enc[StreamsOffset(enc)] = 1;
  enc[StreamsOffset(enc) + 1] = 0;
  EXPECT_EQ(DecodeRequest(enc).streams, 1);
}

TEST(SessionRequestTest, RejectsEveryTruncation) {
  std::string enc = Encoded(FullRequest());
  for (size_t n = 0; n < enc.size(); ++n) {
    SCOPED_TRACE(n);
    try {
      DecodeRequest(std::string_view(enc).substr(0, n));
      ADD_FAILURE() << "a " << n << "-byte prefix decoded";
    } catch (const Error& e) {
      // Cut inside the filters, the count check (before any allocation) sees it first.
      std::string what = e.what();
      EXPECT_EQ(e.code(), ExitCode::StreamData) << what;
      EXPECT_TRUE(what.find("truncated") != std::string::npos || what.find("cannot fit") != std::string::npos)
          << what;
    }
  }
}

TEST(SessionRequestTest, RejectsTrailingBytes) {
  std::string enc = Encoded(FullRequest());
  ExpectProtocolError("trailing", [&] { DecodeRequest(enc + '\0'); });
  ExpectProtocolError("trailing", [&] { DecodeRequest(enc + "xyz"); });
}

// ---- Ready -------------------------------------------------------------------------------

SessionReady FullReady() {
  SessionReady r;
  r.data_port = 7391;
  r.data_host = "2001:db8::1";
  for (size_t i = 0; i < r.token.size(); ++i) r.token[i] = static_cast<uint8_t>(i * 17 + 3);
  r.send_ktls_unavailable = "kernel TLS unavailable: tls module not loaded";
  return r;
}

std::string Encoded(const SessionReady& r) {
  std::string out;
  EncodeReady(r, out);
  return out;
}

TEST(SessionReadyTest, RoundTrips) {
  EXPECT_EQ(DecodeReady(Encoded(FullReady())), FullReady());
  SessionReady empty;
  EXPECT_EQ(DecodeReady(Encoded(empty)), empty);
  SessionReady longest = FullReady();
  longest.data_host = std::string(255, 'h');
  longest.send_ktls_unavailable = std::string(kMaxErrorMessageBytes, 'w');
  EXPECT_EQ(DecodeReady(Encoded(longest)), longest);
  SessionReady too_long = FullReady();
  too_long.send_ktls_unavailable = std::string(kMaxErrorMessageBytes + 100, 'w');
  EXPECT_EQ(DecodeReady(Encoded(too_long)).send_ktls_unavailable.size(), kMaxErrorMessageBytes) << "cut, not refused";
}

TEST(SessionReadyTest, RejectsEveryTruncationAndTrailingBytes) {
  std::string enc = Encoded(FullReady());
  for (size_t n = 0; n < enc.size(); ++n) {
    SCOPED_TRACE(n);
    ExpectProtocolError("truncated", [&] { DecodeReady(std::string_view(enc).substr(0, n)); });
  }
  ExpectProtocolError("trailing", [&] { DecodeReady(enc + 'x'); });
}

// ---- Report ------------------------------------------------------------------------------

std::string Encoded(const SessionReport& r) {
  std::string out;
  EncodeReport(r, out);
  return out;
}

TEST(SessionReportTest, EveryKindRoundTrips) {
  for (auto kind : {SessionReport::Failed, SessionReport::Vanished, SessionReport::Note}) {
    SessionReport r{kind, "dir/file\n\xfe", "cannot open: Permission denied"};
    EXPECT_EQ(DecodeReport(Encoded(r)), r);
  }
  SessionReport empty;
  EXPECT_EQ(DecodeReport(Encoded(empty)), empty);
}

TEST(SessionReportTest, OverlongMessageIsTruncatedToTheCap) {
  SessionReport r{SessionReport::Failed, "k", std::string(kMaxErrorMessageBytes + 100, 'm')};
  SessionReport back = DecodeReport(Encoded(r));
  EXPECT_EQ(back.message, std::string(kMaxErrorMessageBytes, 'm'));
}

TEST(SessionReportTest, RejectsUnknownKind) {
  std::string enc = Encoded(SessionReport{SessionReport::Note, "k", "m"});
  for (uint8_t k : {3, 255}) {
    enc[0] = static_cast<char>(k);
    ExpectProtocolError("unknown report kind", [&] { DecodeReport(enc); });
  }
}

TEST(SessionReportTest, RejectsOverlongKeyOrMessage) {
  std::string enc;
  ByteWriter w(enc);
  w.U8(0);
  w.Str16(std::string(kMaxPathBytes + 1, 'k'));
  w.Str16("m");
  ExpectProtocolError("key length", [&] { DecodeReport(enc); });
  enc.clear();
  w.U8(0);
  w.Str16("k");
  w.Str16(std::string(kMaxErrorMessageBytes + 1, 'm'));
  ExpectProtocolError("message length", [&] { DecodeReport(enc); });
}

TEST(SessionReportTest, RejectsEveryTruncationAndTrailingBytes) {
  std::string enc = Encoded(SessionReport{SessionReport::Vanished, "a/b", "gone"});
  for (size_t n = 0; n < enc.size(); ++n) {
    SCOPED_TRACE(n);
    ExpectProtocolError("truncated", [&] { DecodeReport(std::string_view(enc).substr(0, n)); });
  }
  ExpectProtocolError("trailing", [&] { DecodeReport(enc + 'x'); });
}

}  // namespace
}  // namespace ktsync

namespace ktsync {
namespace {

TEST(SessionRequestTest, RejectsAnUnknownDataRouteAndACompressLevelAboveZstds) {
  std::string enc = Encoded(FullRequest());
  std::string bad_via = enc;
  bad_via[DataViaOffset(enc)] = 3;
  ExpectProtocolError("unknown data route 3", [&] { DecodeRequest(bad_via); });
  std::string bad_level = enc;
  bad_level[DataViaOffset(enc) + 1] = static_cast<char>(kMaxCompressLevel + 1);
  ExpectProtocolError("compress level above", [&] { DecodeRequest(bad_level); });
}

TEST(DataRouteTest, RoundTripsAndRejectsTheUnknown) {
  for (DataRoute r : {DataRoute::None, DataRoute::Direct, DataRoute::Ssh}) {
    std::string out;
    EncodeDataRoute(r, out);
    EXPECT_EQ(DecodeDataRoute(out), r);
  }
  ExpectProtocolError("unknown data route 7", [] { DecodeDataRoute(std::string(1, '\7')); });
  ExpectProtocolError("DataRoute", [] { DecodeDataRoute(std::string("\1\1", 2)); });
}

}  // namespace
}  // namespace ktsync
