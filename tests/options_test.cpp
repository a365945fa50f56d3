// links: ktsync_cli
#include "cli/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/rsync_compat.h"
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

TEST(Options, OptionValuesPassUntouchedWhateverTheyStartWith) {
  // rsync's -h is dropped from short groups, and refused options are caught, but never in a
  // value: "- *.html" keeps its h, "-hx" is a pattern.
  Command c = Parse({"mirror", "-f", "- *.html", "--exclude", "-hx", "-avf", "+ h", "a", "b"});
  EXPECT_EQ(c.mirror.spec.filters,
            (std::vector<FilterRule>{ExcludeRule("*.html"), ExcludeRule("-hx"), IncludeRule("h")}));
}

TEST(Options, CopyTakesRsyncSpellingsToo) {
  Command c = Parse({"copy", "-avh", "-f", "- *.html", "a", "b"});
  EXPECT_EQ(c.kind, Command::Kind::Mirror);
  EXPECT_FALSE(c.mirror.spec.plan.delete_extraneous);
  EXPECT_EQ(c.mirror.spec.filters, (std::vector<FilterRule>{ExcludeRule("*.html")}));
  try {
    Parse({"copy", "-b", "a", "b"});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rsync's -b is not a ktsync option"), std::string::npos) << e.what();
  }
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

TEST(Options, RatesUseRsyncUnits) {
  EXPECT_EQ(ParseRate("1000"), 1000u * 1024);  // a bare number is KiB/s, as in rsync
  EXPECT_EQ(ParseRate("500K"), 500u * 1024);
  EXPECT_EQ(ParseRate("20M"), 20u * 1024 * 1024);
  EXPECT_EQ(ParseRate("20MiB"), 20u * 1024 * 1024);
  EXPECT_EQ(ParseRate("1.5G"), static_cast<uint64_t>(1.5 * 1024 * 1024 * 1024));
  EXPECT_EQ(ParseRate("1MB"), 1000u * 1000);
  EXPECT_EQ(ParseRate("4096B"), 4096u);
  EXPECT_EQ(ParseRate("0"), 0u);  // no limit
  EXPECT_THROW(ParseRate("100b"), Error);  // below rsync's 512 bytes/s
  EXPECT_THROW(ParseRate("fast"), Error);
  EXPECT_THROW(ParseRate("-1M"), Error);
  EXPECT_THROW(ParseRate("10X"), Error);
}

TEST(Options, SizesUseRsyncUnits) {
  EXPECT_EQ(ParseSize("100", 'b', "--max-size"), 100u);
  EXPECT_EQ(ParseSize("1k", 'b', "--max-size"), 1024u);
  EXPECT_EQ(ParseSize("1KB", 'b', "--max-size"), 1000u);
  EXPECT_EQ(ParseSize("1KiB", 'b', "--max-size"), 1024u);
  EXPECT_EQ(ParseSize("1M+1", 'b', "--max-size"), 1024u * 1024 + 1);
  EXPECT_EQ(ParseSize("1M-1", 'b', "--max-size"), 1024u * 1024 - 1);
  EXPECT_EQ(ParseSize("2T", 'b', "--max-size"), 2ull << 40);
  for (const char* bad : {"", ".", "k", "1Q", "1KBB", "1M+2", "-5", "1e3"})
    EXPECT_THROW(ParseSize(bad, 'b', "--max-size"), Error) << bad;
}

TEST(Options, RsyncArchiveSpellingsAreAccepted) {
  for (std::vector<std::string> flags : std::vector<std::vector<std::string>>{
           {"-a"}, {"-avz"}, {"-aHAX"}, {"-rlptgoD"}, {"-r", "-l", "-p", "-t", "-g", "-o", "-D"}, {"-avhP"},
           {"-aW", "--sparse", "--partial", "--delete-after"}}) {
    flags.insert(flags.begin(), "mirror");
    flags.insert(flags.end(), {"a", "b"});
    Command c = Parse(flags);
    EXPECT_EQ(c.kind, Command::Kind::Mirror) << flags[1];
    EXPECT_TRUE(c.mirror.spec.plan.delete_extraneous) << flags[1];
    EXPECT_TRUE(c.mirror.spec.plan.owner) << flags[1];  // -o asks; only root can (run.cpp)
    EXPECT_TRUE(c.mirror.spec.plan.group) << flags[1];
  }
  EXPECT_TRUE(Parse({"mirror", "-P", "a", "b"}).mirror.out.progress);
  EXPECT_TRUE(Parse({"mirror", "--info=progress2", "a", "b"}).mirror.out.progress);
  EXPECT_TRUE(Parse({"mirror", "--info=stats2,progress2", "a", "b"}).mirror.out.stats);
  EXPECT_FALSE(Parse({"mirror", "-a", "--no-owner", "a", "b"}).mirror.spec.plan.owner);
  EXPECT_EQ(Parse({"mirror", "--rsh", "ssh -p 2", "a", "b"}).mirror.ssh_command, "ssh -p 2");
}

// --files-from: the list is read here (a remote host's is refused), --from0 needs it.
TEST(Options, FilesFromIsReadLocallyAndFrom0NeedsIt) {
  for (std::vector<std::string> args : {std::vector<std::string>{"mirror", "--files-from=host:list", "a", "b"},
                                        std::vector<std::string>{"mirror", "--from0", "a", "b"}}) {
    try {
      Parse(args);
      ADD_FAILURE() << args[1] << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(Options, RsyncOptionsThatMakeNoSenseSayWhatToDoInstead) {
  for (std::string flag : {"--inplace", "--append", "--partial-dir=.p", "--backup", "-b", "-avb", "--link-dest=x",
                           "-R", "--info=name", "--remove-source-files", "--compress-choice=lz4", "-C"}) {
    try {
      Parse({"mirror", flag, "a", "b"});
      ADD_FAILURE() << flag << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("ktsync"), std::string::npos) << e.what();
    }
  }
  // A value is not an option: -e's own words pass.
  EXPECT_EQ(Parse({"mirror", "-essh -b", "a", "b"}).mirror.ssh_command, "ssh -b");
}

TEST(Options, CopyLinksReachesTheSpecInEverySpelling) {
  EXPECT_FALSE(Parse({"mirror", "a", "b"}).mirror.spec.copy_links);
  for (const char* spelled : {"-L", "--copy-links", "-aL", "-avLH"})
    EXPECT_TRUE(Parse({"mirror", spelled, "a", "b"}).mirror.spec.copy_links) << spelled;
  // -k and -K follow only links to directories (and -K in DST): still refused.
  for (const char* refused : {"-k", "-K", "--copy-dirlinks", "--keep-dirlinks", "-akL"})
    EXPECT_THROW(Parse({"mirror", refused, "a", "b"}), Error) << refused;
}

TEST(Options, TransferRulesAndTweaksReachTheSpec) {
  Command c = Parse({"mirror", "-u", "--ignore-existing", "--existing", "--size-only", "--modify-window=2",
                     "--max-size=1M", "--min-size", "10", "--chmod=D755", "--chmod", "Fgo-w", "--chown=bin:",
                     "--safe-links", "a", "b"});
  const MirrorSpec& s = c.mirror.spec;
  EXPECT_TRUE(s.plan.update_only);
  EXPECT_TRUE(s.plan.ignore_existing);
  EXPECT_TRUE(s.plan.existing_only);
  EXPECT_TRUE(s.plan.size_only);
  EXPECT_EQ(s.plan.mtime_tolerance_ns, 2'000'000'000);
  EXPECT_EQ(s.plan.max_size, 1024u * 1024);
  EXPECT_EQ(s.plan.min_size, 10u);
  EXPECT_EQ(s.chmod.size(), 2u);
  EXPECT_EQ(s.chown_user, "bin");
  EXPECT_EQ(s.chown_group, "");
  EXPECT_TRUE(s.plan.owner);
  EXPECT_TRUE(s.safe_links);
  EXPECT_EQ(Parse({"mirror", "--chown=:staff", "a", "b"}).mirror.spec.chown_group, "staff");
  for (const char* bad : {"--chown=:", "--chown=a:b:c", "--chmod=u+z", "--max-size=big", "--modify-window=-1"})
    EXPECT_THROW(Parse({"mirror", bad, "a", "b"}), Error) << bad;
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
