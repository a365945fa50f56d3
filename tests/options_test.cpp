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
  Command c = Parse({"mirror", "--include", "a", "--exclude", "b", "--exclude-from", f, "--include", "c", "x", "y"});
  std::vector<std::pair<bool, std::string>> want = {
      {true, "a"}, {false, "b"}, {true, "keep/"}, {false, "*.o"}, {false, "plain"}, {true, "c"}};
  std::vector<std::pair<bool, std::string>> got;
  for (const FilterRule& r : c.mirror.spec.filters) got.emplace_back(r.include, r.pattern);
  EXPECT_EQ(got, want);
  ::unlink(f.c_str());
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

// issue 15: rsync users copy without deleting; copy shares mirror's options but the deleting ones.
TEST(Options, CopyIsAMirrorThatNeverDeletes) {
  Command c = Parse({"copy", "--no-hard-links", "-n", "a", "b"});
  ASSERT_EQ(c.kind, Command::Kind::Mirror);
  EXPECT_FALSE(c.mirror.spec.plan.delete_extraneous);
  EXPECT_FALSE(c.mirror.spec.plan.hard_links);
  EXPECT_TRUE(c.mirror.spec.dry_run);
  EXPECT_EQ(c.mirror.src, "a");
  EXPECT_EQ(c.mirror.dst, "b");
}

TEST(Options, CopyRefusesDeletionOptions) {
  for (const char* opt : {"--delete", "--force-delete", "--delete-on-error"})
    EXPECT_THROW(Parse({"copy", opt, "a", "b"}), Error) << opt;
  EXPECT_THROW(Parse({"copy", "--max-delete", "3", "a", "b"}), Error);
}

TEST(Options, ForceDeleteLiftsTheFirstMirrorGuard) {
  EXPECT_FALSE(Parse({"mirror", "a", "b"}).mirror.spec.deletes.force_delete);
  EXPECT_TRUE(Parse({"mirror", "--force-delete", "a", "b"}).mirror.spec.deletes.force_delete);
}

TEST(Options, StateListAndPrune) {
  Command l = Parse({"state", "list", "--json", "--state-dir", "/s"});
  ASSERT_EQ(l.kind, Command::Kind::State);
  EXPECT_EQ(l.state.action, StateOptions::Action::List);
  EXPECT_TRUE(l.state.json);
  EXPECT_EQ(l.state.state_dir, "/s");
  Command p = Parse({"state", "prune", "--missing", "--older-than", "30", "-n"});
  EXPECT_EQ(p.state.action, StateOptions::Action::Prune);
  EXPECT_TRUE(p.state.missing);
  EXPECT_EQ(p.state.older_than_days, 30);
  EXPECT_TRUE(p.state.dry_run);
}

// Pruning nothing by default: the user says which databases go.
TEST(Options, StatePruneNeedsARule) {
  EXPECT_THROW(Parse({"state", "prune"}), Error);
  EXPECT_THROW(Parse({"state"}), Error);
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
