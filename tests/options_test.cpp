// links: ktsync_cli
#include "cli/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

Command Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "ktsync");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return ParseCommandLine(static_cast<int>(argv.size()), argv.data());
}

TEST(Options, MirrorDefaultsAreAnExactMirror) {
  Command c = Parse({"mirror", "a", "b"});
  ASSERT_EQ(c.kind, Command::Kind::Mirror);
  EXPECT_TRUE(c.mirror.spec.plan.delete_extraneous);
  EXPECT_TRUE(c.mirror.spec.plan.hard_links);
  EXPECT_TRUE(c.mirror.spec.plan.group);
  EXPECT_EQ(c.mirror.spec.plan.owner, geteuid() == 0);
  EXPECT_TRUE(c.mirror.spec.one_file_system);
  EXPECT_FALSE(c.mirror.spec.dry_run);
}

TEST(Options, NegationsTakeEffect) {
  Command c = Parse({"mirror", "--no-delete", "--no-hard-links", "--no-owner", "--no-group",
                     "--cross-filesystems", "a", "b"});
  EXPECT_FALSE(c.mirror.spec.plan.delete_extraneous);
  EXPECT_FALSE(c.mirror.spec.plan.hard_links);
  EXPECT_FALSE(c.mirror.spec.plan.owner);
  EXPECT_FALSE(c.mirror.spec.plan.group);
  EXPECT_FALSE(c.mirror.spec.one_file_system);
}

TEST(Options, FiltersKeepCommandLineOrderAcrossKinds) {
  std::string f = "/tmp/ktsync_options_test_filters";
  std::ofstream(f) << "# comment\n+ keep/\n- *.o\nplain\n";
  Command c = Parse({"mirror", "--include", "a", "--exclude", "b", "--exclude-from", f, "--include", "c", "-f",
                     "P,p db/", "-F", "--include-from", f, "-F", "--exclude", "+ d", "x", "y"});
  std::vector<FilterRule> want = {IncludeRule("a"),
                                  ExcludeRule("b"),
                                  IncludeRule("keep/"),
                                  ExcludeRule("*.o"),
                                  ExcludeRule("plain"),
                                  IncludeRule("c"),
                                  {RuleKind::Exclude, kRuleReceiver | kRulePerishable, "db/"},
                                  {RuleKind::DirMerge, 0, "/.rsync-filter"},
                                  IncludeRule("keep/"),
                                  ExcludeRule("*.o"),
                                  IncludeRule("plain"),
                                  ExcludeRule(".rsync-filter"),
                                  IncludeRule("d")};
  EXPECT_EQ(c.mirror.spec.filters, want);
  ::unlink(f.c_str());
}

TEST(Options, DeleteExcludedNeedsDeletion) {
  EXPECT_TRUE(Parse({"mirror", "--delete-excluded", "a", "b"}).mirror.spec.delete_excluded);
  EXPECT_THROW(Parse({"mirror", "--delete-excluded", "--no-delete", "a", "b"}), Error);
}

TEST(Options, BadFilterRuleIsAUsageError) {
  try {
    Parse({"mirror", "-f", "Z x", "a", "b"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("filter rule 'Z x'"), std::string::npos) << e.what();
  }
}

TEST(Options, MissingExcludeFromFileIsAUsageError) {
  try {
    Parse({"mirror", "--exclude-from", "/nonexistent/list", "a", "b"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/list"), std::string::npos);
  }
}

TEST(Options, RequireKtlsContradictsNoKtls) {
  EXPECT_THROW(Parse({"mirror", "--require-ktls", "--no-ktls", "a", "b"}), Error);
}

TEST(Options, RatesUse1024Units) {
  EXPECT_EQ(ParseRate("500K"), 500u * 1024);
  EXPECT_EQ(ParseRate("20M"), 20u * 1024 * 1024);
  EXPECT_EQ(ParseRate("1.5G"), static_cast<uint64_t>(1.5 * 1024 * 1024 * 1024));
  EXPECT_EQ(ParseRate("4096"), 4096u);
  EXPECT_THROW(ParseRate("fast"), Error);
  EXPECT_THROW(ParseRate("-1M"), Error);
  EXPECT_THROW(ParseRate("10X"), Error);
}

TEST(Options, ServeNeedsExactlyOneMode) {
  EXPECT_THROW(Parse({"serve"}), Error);
  EXPECT_THROW(Parse({"serve", "--stdio", "--listen", "127.0.0.1:1"}), Error);
  EXPECT_THROW(Parse({"serve", "--listen", "127.0.0.1:1"}), Error);  // no root/secret
  Command c = Parse({"serve", "--stdio"});
  EXPECT_EQ(c.kind, Command::Kind::Serve);
  EXPECT_TRUE(c.serve.stdio);
}

TEST(Options, UnknownFlagIsAUsageError) {
  try {
    Parse({"mirror", "--frobnicate", "a", "b"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
  }
}

}  // namespace
}  // namespace ktsync
