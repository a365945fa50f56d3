// links: ktsync_manifest
#include "manifest/filter_rule.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

// Builds rules with merge files served from memory.
struct Builder {
  std::map<std::string, std::string> files;
  RuleListBuilder b{[this](const std::string& f) -> std::string {
    auto it = files.find(f);
    if (it == files.end()) throw Error(ExitCode::Usage, "no file " + f);
    return it->second;
  }};
};

std::vector<FilterRule> Parse(std::initializer_list<const char*> texts) {
  Builder x;
  for (const char* t : texts) x.b.Add(t, RuleSyntax::Full);
  return x.b.Take();
}

void ExpectUsageError(std::initializer_list<const char*> texts, const std::string& says) {
  try {
    Parse(texts);
    ADD_FAILURE() << "accepted " << *texts.begin();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
}

TEST(FilterRuleTest, ShortAndLongRuleNames) {
  std::vector<FilterRule> want = {
      {RuleKind::Exclude, 0, "*.o"},           {RuleKind::Include, 0, "*.c"},
      {RuleKind::Exclude, kRuleSender, "h"},   {RuleKind::Include, kRuleSender, "s"},
      {RuleKind::Exclude, kRuleReceiver, "p"}, {RuleKind::Include, kRuleReceiver, "r"},
      {RuleKind::DirMerge, 0, ".rules"}};
  EXPECT_EQ(Parse({"- *.o", "+ *.c", "H h", "S s", "P p", "R r", ": .rules"}), want);
  EXPECT_EQ(Parse({"exclude *.o", "include *.c", "hide h", "show s", "protect p", "risk r", "dir-merge .rules"}),
            want);
}

TEST(FilterRuleTest, ModifiersAndSeparators) {
  EXPECT_EQ(Parse({"-p_*.o"}), (std::vector<FilterRule>{{RuleKind::Exclude, kRulePerishable, "*.o"}}));
  EXPECT_EQ(Parse({"-,!/ x"}), (std::vector<FilterRule>{{RuleKind::Exclude, kRuleNegate | kRuleAbsPath, "x"}}));
  EXPECT_EQ(Parse({"exclude,sr a b"}), (std::vector<FilterRule>{{RuleKind::Exclude, kRuleSides, "a b"}}));
  EXPECT_EQ(Parse({"+  two spaces"}), (std::vector<FilterRule>{{RuleKind::Include, 0, " two spaces"}}));
  EXPECT_EQ(Parse({":n-e .ex"}), (std::vector<FilterRule>{{RuleKind::Exclude, 0, ".ex"},
                                                          {RuleKind::DirMerge, kMergeNoInherit | kMergeNoPrefixes, ".ex"}}));
}

TEST(FilterRuleTest, ClearDropsEverythingBefore) {
  EXPECT_EQ(Parse({"- a", "!", "- b"}), (std::vector<FilterRule>{ExcludeRule("b")}));
  EXPECT_EQ(Parse({"- a", "clear", "- b"}), (std::vector<FilterRule>{ExcludeRule("b")}));
}

TEST(FilterRuleTest, OldStylePrefixes) {
  Builder x;
  x.b.Add("- *.o", RuleSyntax::OldPrefixes, RuleKind::Include);
  x.b.Add("+ keep.o", RuleSyntax::OldPrefixes, RuleKind::Exclude);
  x.b.Add("H x", RuleSyntax::OldPrefixes, RuleKind::Exclude);  // a name, not a rule
  x.b.Add("-x", RuleSyntax::OldPrefixes, RuleKind::Include);
  EXPECT_EQ(x.b.Take(), (std::vector<FilterRule>{ExcludeRule("*.o"), IncludeRule("keep.o"), ExcludeRule("H x"),
                                                IncludeRule("-x")}));
}

TEST(FilterRuleTest, FromFilesSkipCommentsAndHonourClear) {
  Builder x;
  x.files["ex"] = "# comment\n; comment\n\n*.o\n+ keep.o\n- /build/\r\na b \n!\n+x\n";
  x.b.Add("- before", RuleSyntax::Full);
  x.b.AddFile("ex", RuleKind::Exclude);
  EXPECT_EQ(x.b.Take(), (std::vector<FilterRule>{ExcludeRule("+x")}));
  x.files["cr"] = "a\rb\r\nc";  // rsync: a lone '\r' ends a line too
  x.b.AddFile("cr", RuleKind::Exclude);
  EXPECT_EQ(x.b.Take(), (std::vector<FilterRule>{ExcludeRule("a"), ExcludeRule("b"), ExcludeRule("c")}));
  x.files["in"] = "*.c\n- *.o\n";
  x.b.AddFile("in", RuleKind::Include);
  EXPECT_EQ(x.b.Take(), (std::vector<FilterRule>{IncludeRule("*.c"), ExcludeRule("*.o")}));
}

TEST(FilterRuleTest, MergeFileExpansion) {
  Builder x;
  x.files["m"] = "- a\nmerge n\n: .d\n";
  x.files["n"] = "+ b\n";
  x.files["words"] = "x y\n  z\n";
  x.files["sub/m2"] = "q\n";
  x.b.Add("- first", RuleSyntax::Full);
  x.b.Add(". m", RuleSyntax::Full);
  x.b.Add("merge,+w words", RuleSyntax::Full);
  x.b.Add("merge,e-s sub/m2", RuleSyntax::Full);
  std::vector<FilterRule> want = {ExcludeRule("first"),
                                  ExcludeRule("a"),
                                  IncludeRule("b"),
                                  {RuleKind::DirMerge, 0, ".d"},
                                  IncludeRule("x"),
                                  IncludeRule("y"),
                                  IncludeRule("z"),
                                  ExcludeRule("m2"),
                                  {RuleKind::Exclude, kRuleSender, "q"}};
  EXPECT_EQ(x.b.Take(), want);
}

TEST(FilterRuleTest, MergeLoopsAreCut) {
  Builder x;
  x.files["self"] = ". self\n";
  EXPECT_THROW(x.b.Add(". self", RuleSyntax::Full), Error);
}

TEST(FilterRuleTest, ErrorsNameTheRule) {
  ExpectUsageError({"Z foo"}, "unknown rule (expected + - H S P R ! . : or a long name): 'Z'");
  ExpectUsageError({"!x"}, "'!' takes no pattern");
  ExpectUsageError({"clear "}, "'!' takes no pattern");
  ExpectUsageError({"-q foo"}, "invalid modifier 'q'");
  ExpectUsageError({"+e foo"}, "invalid modifier 'e'");
  ExpectUsageError({"Hs foo"}, "invalid modifier 's'");
  ExpectUsageError({"-"}, "a pattern or file name must follow");
  ExpectUsageError({"! x"}, "'!' takes no pattern");
  ExpectUsageError({"-C"}, "no CVS rules");
  ExpectUsageError({"-x user.*"}, "no xattr-name rules");
  ExpectUsageError({". missing"}, "no file missing");
  ExpectUsageError({""}, "empty rule");
}

TEST(FilterRuleTest, SidedMergeFileRejectsSidedRules) {
  Builder x;
  x.files["f"] = "H x\n";
  try {
    x.b.Add("merge,s f", RuleSyntax::Full);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("filter file f line 1"), std::string::npos) << e.what();
  }
}

TEST(FilterRuleTest, DirMergeFileParsing) {
  FilterRule merge{RuleKind::DirMerge, kMergeNoPrefixes | kMergeInclude | kRulePerishable, ".keep"};
  DirMergeRules r = ParseDirMergeFile("a\n#c\nb\n", merge, "d/.keep");
  EXPECT_FALSE(r.clears);
  EXPECT_EQ(r.rules, (std::vector<FilterRule>{{RuleKind::Include, kRulePerishable, "a"},
                                              {RuleKind::Include, kRulePerishable, "b"}}));
  FilterRule full{RuleKind::DirMerge, 0, "/.rsync-filter"};
  EXPECT_EQ(DirMergeName(full), ".rsync-filter");
  DirMergeRules c = ParseDirMergeFile("- x\n!\n+ y\n", full, ".rsync-filter");
  EXPECT_TRUE(c.clears);
  EXPECT_EQ(c.rules, (std::vector<FilterRule>{IncludeRule("y")}));
  EXPECT_THROW(ParseDirMergeFile("merge other\n", full, "f"), Error);
  EXPECT_THROW(ParseDirMergeFile(": other\n", full, "f"), Error);
}

TEST(FilterRuleTest, RuleTextSpellsRsyncSyntax) {
  EXPECT_EQ(RuleText({RuleKind::Exclude, kRulePerishable | kRuleSender, "*.o"}), "-,ps *.o");
  EXPECT_EQ(RuleText({RuleKind::DirMerge, kMergeNoPrefixes, ".ex"}), ":,- .ex");
  EXPECT_EQ(RuleText(IncludeRule("a")), "+ a");
}

}  // namespace
}  // namespace ktsync
