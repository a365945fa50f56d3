// links: ktsync_manifest
#include "manifest/filter.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

Filter Excluding(std::initializer_list<const char*> patterns) {
  std::vector<FilterRule> rules;
  for (const char* p : patterns) rules.push_back(ExcludeRule(p));
  return Filter(rules);
}

// Rules in rsync's --filter syntax ("+ *.h", "-,p tmp/", "P /db").
Filter Rules(std::initializer_list<const char*> texts, bool delete_excluded = false) {
  RuleListBuilder b([](const std::string& f) -> std::string { throw Error(ExitCode::Usage, "no file " + f); });
  for (const char* t : texts) b.Add(t, RuleSyntax::Full);
  return Filter(b.rules(), delete_excluded);
}

bool ExcludesFile(const Filter& f, std::string_view path) { return f.Excluded(path, false); }
bool ExcludesDir(const Filter& f, std::string_view path) { return f.Excluded(path, true); }

TEST(FilterTest, EmptyFilterExcludesNothing) {
  Filter f;
  EXPECT_TRUE(f.empty());
  EXPECT_FALSE(ExcludesFile(f, "a"));
  EXPECT_FALSE(ExcludesDir(f, "a/b"));
}

TEST(FilterTest, RootIsNeverExcluded) {
  Filter f = Excluding({"*", "/**"});
  EXPECT_FALSE(ExcludesDir(f, ""));
}

TEST(FilterTest, StarMatchesWithinOneComponent) {
  Filter f = Excluding({"*.o"});
  EXPECT_TRUE(ExcludesFile(f, "a.o"));
  EXPECT_TRUE(ExcludesFile(f, "src/deep/a.o"));
  EXPECT_TRUE(ExcludesFile(f, ".o"));
  EXPECT_FALSE(ExcludesFile(f, "a.oo"));
  EXPECT_FALSE(ExcludesFile(f, "a.o/b"));

  Filter anchored = Excluding({"/a*c"});
  EXPECT_TRUE(ExcludesFile(anchored, "abc"));
  EXPECT_FALSE(ExcludesFile(anchored, "a/c"));  // '*' does not cross '/'
}

TEST(FilterTest, DoubleStarCrossesDirectories) {
  Filter f = Excluding({"/a/**/z"});
  EXPECT_TRUE(ExcludesFile(f, "a/b/c/z"));
  EXPECT_TRUE(ExcludesFile(f, "a/b/z"));
  EXPECT_FALSE(ExcludesFile(f, "a/z"));  // rsync: "/**/" needs at least one directory
  EXPECT_FALSE(ExcludesFile(f, "b/a/z"));
  EXPECT_FALSE(ExcludesFile(f, "a/b/zz"));

  Filter g = Excluding({"/a**"});
  EXPECT_TRUE(ExcludesFile(g, "a/b/c"));
  EXPECT_TRUE(ExcludesFile(g, "abc/d"));
}

TEST(FilterTest, LeadingDoubleStarMatchesTheTopLevelToo) {
  Filter f = Excluding({"**/.ssh"});
  EXPECT_TRUE(ExcludesDir(f, ".ssh"));
  EXPECT_TRUE(ExcludesDir(f, "home/u/.ssh"));
  EXPECT_FALSE(ExcludesDir(f, "home/u/.sshx"));
  // Anchored, the "**" is no longer a prefix: the top level needs "/.ssh" (rsync agrees).
  Filter anchored = Excluding({"/**/.ssh"});
  EXPECT_FALSE(ExcludesDir(anchored, ".ssh"));
  EXPECT_TRUE(ExcludesDir(anchored, "u/.ssh"));
  // An infix "**" is tried after every '/', and still needs its slashes.
  Filter infix = Excluding({"a/**/b"});
  EXPECT_TRUE(ExcludesFile(infix, "x/a/y/b"));
  EXPECT_FALSE(ExcludesFile(infix, "a/b"));
  EXPECT_FALSE(ExcludesFile(infix, "deep/a/b"));
  EXPECT_FALSE(ExcludesFile(infix, "b"));
}

TEST(FilterTest, QuestionMarkMatchesOneNonSlashByte) {
  Filter f = Excluding({"/a?c"});
  EXPECT_TRUE(ExcludesFile(f, "abc"));
  EXPECT_FALSE(ExcludesFile(f, "ac"));
  EXPECT_FALSE(ExcludesFile(f, "abbc"));
  EXPECT_FALSE(ExcludesFile(f, "a/c"));
}

TEST(FilterTest, CharacterClasses) {
  Filter f = Excluding({"/[abc].txt", "/[!a-y]1", "/[^x]2", "/[]]3", "/[[:digit:]]4", "/[a\\-]5"});
  EXPECT_TRUE(ExcludesFile(f, "b.txt"));
  EXPECT_FALSE(ExcludesFile(f, "d.txt"));
  EXPECT_TRUE(ExcludesFile(f, "z1"));
  EXPECT_FALSE(ExcludesFile(f, "m1"));
  EXPECT_TRUE(ExcludesFile(f, "y2"));
  EXPECT_FALSE(ExcludesFile(f, "x2"));
  EXPECT_TRUE(ExcludesFile(f, "]3"));
  EXPECT_TRUE(ExcludesFile(f, "74"));
  EXPECT_FALSE(ExcludesFile(f, "a4"));
  EXPECT_TRUE(ExcludesFile(f, "-5"));
  EXPECT_FALSE(ExcludesFile(f, "b5"));
}

TEST(FilterTest, NegatedClassNeverMatchesSlash) {
  Filter f = Excluding({"/a[!x]b"});
  EXPECT_FALSE(ExcludesFile(f, "a/b"));
}

TEST(FilterTest, BackslashEscapesOnlyInWildPatterns) {
  Filter wild = Excluding({"/\\*x*"});
  EXPECT_TRUE(ExcludesFile(wild, "*xyz"));
  EXPECT_FALSE(ExcludesFile(wild, "axyz"));
  // rsync: with no wildcard the backslash is an ordinary byte.
  Filter literal = Excluding({"a\\b"});
  EXPECT_TRUE(ExcludesFile(literal, "a\\b"));
  EXPECT_FALSE(ExcludesFile(literal, "ab"));
}

TEST(FilterTest, AnchoredMatchesOnlyFromRoot) {
  Filter f = Excluding({"/foo"});
  EXPECT_TRUE(ExcludesFile(f, "foo"));
  EXPECT_FALSE(ExcludesFile(f, "x/foo"));
  Filter g = Excluding({"foo"});
  EXPECT_TRUE(ExcludesFile(g, "foo"));
  EXPECT_TRUE(ExcludesFile(g, "x/y/foo"));
  EXPECT_FALSE(ExcludesFile(g, "foo2"));
}

TEST(FilterTest, PatternWithSlashMatchesPathEndAtComponentBoundary) {
  Filter f = Excluding({"b/c"});
  EXPECT_TRUE(ExcludesFile(f, "b/c"));
  EXPECT_TRUE(ExcludesFile(f, "a/b/c"));
  EXPECT_FALSE(ExcludesFile(f, "ab/c"));
  EXPECT_FALSE(ExcludesFile(f, "b/c/d"));
  Filter g = Excluding({"b*/c?"});
  EXPECT_TRUE(ExcludesFile(g, "x/bee/c1"));
  EXPECT_FALSE(ExcludesFile(g, "x/abee/c1"));
  EXPECT_FALSE(ExcludesFile(g, "c1"));
}

TEST(FilterTest, TrailingSlashMatchesDirectoriesOnly) {
  Filter f = Excluding({"build/"});
  EXPECT_TRUE(ExcludesDir(f, "build"));
  EXPECT_TRUE(ExcludesDir(f, "a/build"));
  EXPECT_FALSE(ExcludesFile(f, "build"));
}

TEST(FilterTest, TripleStarMatchesDirAndEverythingBelow) {
  Filter f = Rules({"+ /keep/***", "- *"});
  EXPECT_FALSE(ExcludesDir(f, "keep"));
  EXPECT_FALSE(ExcludesFile(f, "keep/x"));
  EXPECT_FALSE(ExcludesFile(f, "keep/x/y"));
  EXPECT_TRUE(ExcludesFile(f, "keep"));  // as if "keep/": a file named keep is not it
  EXPECT_TRUE(ExcludesFile(f, "keeper"));
  EXPECT_TRUE(ExcludesDir(f, "other"));
}

TEST(FilterTest, FirstMatchingRuleWins) {
  Filter f = Rules({"+ *.h", "- *"});
  EXPECT_FALSE(ExcludesFile(f, "a.h"));
  EXPECT_TRUE(ExcludesFile(f, "a.c"));

  Filter reversed = Rules({"- *", "+ *.h"});
  EXPECT_TRUE(ExcludesFile(reversed, "a.h"));
}

TEST(FilterTest, IncludeDirsThenFilesPattern) {
  Filter f = Rules({"+ */", "+ *.txt", "- *"});
  EXPECT_FALSE(ExcludesDir(f, "d"));
  EXPECT_FALSE(ExcludesFile(f, "d/a.txt"));
  EXPECT_TRUE(ExcludesFile(f, "d/a.bin"));
}

TEST(FilterTest, UnmatchedPathIsIncluded) {
  Filter f = Excluding({"*.tmp"});
  EXPECT_FALSE(ExcludesFile(f, "a.txt"));
}

TEST(FilterTest, NamesWithOddBytes) {
  Filter f = Excluding({"a b", "x?y", std::string("\xff*").c_str(), "[\xf0-\xfe]z"});
  EXPECT_TRUE(ExcludesFile(f, "d/a b"));
  EXPECT_TRUE(ExcludesFile(f, "x\ny"));
  EXPECT_TRUE(ExcludesFile(f, "\xff\xfe"));
  EXPECT_TRUE(ExcludesFile(f, "\xf5z"));
  EXPECT_FALSE(ExcludesFile(f, "\xffz/ok"));
  EXPECT_FALSE(ExcludesFile(f, "az"));
  Filter nl = Excluding({"*\n*"});
  EXPECT_TRUE(ExcludesFile(nl, "line1\nline2"));
  EXPECT_FALSE(ExcludesFile(nl, "line1"));
}

TEST(FilterTest, InvalidPatternsThrowUsage) {
  for (const char* bad : {"[abc", "a[", "*\\", "", "[[:nope:]]"}) {
    try {
      Filter f = Excluding({bad});
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << bad;
    }
  }
}

TEST(FilterTest, ManyStarsDoNotBlowUp) {
  std::string pat;
  for (int i = 0; i < 30; ++i) pat += "*a";
  pat += "*b";
  Filter f = Excluding({pat.c_str()});
  std::string name(300, 'a');
  EXPECT_FALSE(ExcludesFile(f, name));  // returns promptly (wildmatch aborts, no backtracking storm)
  EXPECT_TRUE(ExcludesFile(f, name + "b"));
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "a/";
  Filter g = Excluding({"**a**a**a**a**a**a**c"});
  EXPECT_FALSE(ExcludesFile(g, deep + "b"));
}

TEST(FilterTest, NegatedRuleMatchesWhatThePatternDoesNot) {
  Filter f = Rules({"-! */"});  // rsync's man page: exclude all non-directories
  EXPECT_TRUE(ExcludesFile(f, "a"));
  EXPECT_FALSE(ExcludesDir(f, "d"));
}

TEST(FilterTest, SidesDecideWhichEndARuleBinds) {
  Filter f = Rules({"H *.tmp", "P /db/", "- *.o", "-r keep", "S *.log", "R old.log"});
  EXPECT_TRUE(f.Excluded("a.tmp", false, kRuleSender));
  EXPECT_FALSE(f.Excluded("a.tmp", false, kRuleReceiver));  // hidden, not protected
  EXPECT_TRUE(f.Excluded("db", true, kRuleReceiver));
  EXPECT_FALSE(f.Excluded("db", true, kRuleSender));
  EXPECT_TRUE(f.Excluded("x.o", false, kRuleSender));
  EXPECT_TRUE(f.Excluded("x.o", false, kRuleReceiver));
  EXPECT_TRUE(f.Excluded("keep", false, kRuleReceiver));
  EXPECT_FALSE(f.Excluded("keep", false, kRuleSender));
  EXPECT_EQ(f.Check("a.log", false, kRuleSender), 1);
  EXPECT_EQ(f.Check("a.log", false, kRuleReceiver), 0);
  EXPECT_FALSE(f.symmetric());
  EXPECT_TRUE(Rules({"- *.o", "+ x"}).symmetric());
}

TEST(FilterTest, AbsolutePathRulesAreNotSymmetric) {
  // Each side holds them against its own location, so the receiver cannot skip what it excludes.
  EXPECT_FALSE(Filter({{RuleKind::Exclude, kRuleAbsPath, "/x/y"}}).symmetric());
}

TEST(FilterTest, DirMergeRuleMustNameAFile) {
  for (const char* bad : {"..", "a/..", ".", "dir/"}) EXPECT_THROW(Filter({{RuleKind::DirMerge, 0, bad}}), Error) << bad;
}

TEST(FilterTest, DeleteExcludedMakesUnsidedRulesSenderOnly) {
  Filter f = Rules({"- *.o", "P *.keep"}, /*delete_excluded=*/true);
  EXPECT_TRUE(f.Excluded("a.o", false, kRuleSender));
  EXPECT_FALSE(f.Excluded("a.o", false, kRuleReceiver));
  EXPECT_TRUE(f.Excluded("a.keep", false, kRuleReceiver));
}

TEST(FilterTest, PerishableRulesCanBeIgnored) {
  Filter f = Rules({"-p *.o"});
  EXPECT_EQ(f.Check("a.o", false, kRuleReceiver), -1);
  EXPECT_EQ(f.Check("a.o", false, kRuleReceiver, nullptr, /*ignore_perishable=*/true), 0);
}

TEST(FilterTest, AbsolutePathRulesSeeTheTreesLocation) {
  Filter f(std::vector<FilterRule>{{RuleKind::Exclude, kRuleAbsPath, "/srv/data/secret"},
                                   {RuleKind::Exclude, kRuleAbsPath, "data/x"}},
           false, "/srv/data");
  EXPECT_TRUE(ExcludesFile(f, "secret"));
  EXPECT_FALSE(ExcludesFile(f, "a/secret"));
  EXPECT_TRUE(ExcludesFile(f, "x"));  // the last two components of /srv/data/x
}

// What a walk does: enter directories, read their files, leave them.
struct FakeTree {
  std::map<std::string, std::string> files;  // "dir/name" -> text
  DirRules::ReadFn In(const std::string& dir) {
    return [this, dir](const std::string& name) -> std::optional<std::string> {
      auto it = files.find(dir.empty() ? name : dir + "/" + name);
      if (it == files.end()) return std::nullopt;
      return it->second;
    };
  }
};

TEST(FilterTest, DirMergeRulesApplyBeneathTheirDirectory) {
  Filter f = Rules({": .rules", "- *.bak"});
  FakeTree t;
  t.files = {{".rules", "- *.tmp\n"}, {"a/.rules", "+ keep.tmp\n- /local\n"}, {"a/b/.rules", "!\n"}};
  DirRules d(f);
  d.Enter("", 0, t.In(""));
  EXPECT_TRUE(f.Excluded("x.tmp", false, kRuleSender, &d));
  d.Enter("a", 1, t.In("a"));
  EXPECT_FALSE(f.Excluded("a/keep.tmp", false, kRuleSender, &d));  // deeper files first
  EXPECT_TRUE(f.Excluded("a/x.tmp", false, kRuleSender, &d));      // inherited
  EXPECT_TRUE(f.Excluded("a/local", false, kRuleSender, &d));      // anchored at a/
  EXPECT_FALSE(f.Excluded("a/c/local", false, kRuleSender, &d));
  d.Enter("a/b", 2, t.In("a/b"));
  EXPECT_FALSE(f.Excluded("a/b/x.tmp", false, kRuleSender, &d));  // '!' drops what it inherits
  EXPECT_TRUE(f.Excluded("a/b/x.bak", false, kRuleSender, &d));   // global rules stay
  d.Leave(1);
  d.Enter("z", 1, t.In("z"));
  EXPECT_TRUE(f.Excluded("z/keep.tmp", false, kRuleSender, &d));  // a/'s rules are gone
  EXPECT_FALSE(f.Excluded("z/local", false, kRuleSender, &d));
}

TEST(FilterTest, NoInheritDirMergeBindsOnlyItsOwnDirectory) {
  Filter f = Rules({":n- .ex"});
  FakeTree t;
  t.files = {{"a/.ex", "*.o\n"}};
  DirRules d(f);
  d.Enter("", 0, t.In(""));
  d.Enter("a", 1, t.In("a"));
  EXPECT_TRUE(f.Excluded("a/x.o", false, kRuleSender, &d));
  d.Enter("a/b", 2, t.In("a/b"));
  EXPECT_FALSE(f.Excluded("a/b/x.o", false, kRuleSender, &d));
}

TEST(FilterTest, BadDirMergeFileNamesFileAndLineNotText) {
  Filter f = Rules({": .rules"});
  FakeTree t;
  t.files = {{"a/.rules", "- ok\nZ secret-looking text\n"}};
  DirRules d(f);
  d.Enter("", 0, t.In(""));
  try {
    d.Enter("a", 1, t.In("a"));
    ADD_FAILURE() << "accepted a bad rule";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a/.rules line 2"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
}

TEST(FilterTest, AboveRootFilesAnchorAtTheirOwnDirectory) {
  Filter f = Rules({": /.rsync-filter"});
  DirRules d(f);
  d.EnterAbove(0, "/src", "path", [](const std::string&) { return std::optional<std::string>("- /path/x\n"); });
  d.Enter("", 0, [](const std::string&) { return std::nullopt; });
  EXPECT_FALSE(ExcludesFile(f, "x"));  // without the walk's rules
  EXPECT_TRUE(f.Excluded("x", false, kRuleSender, &d));
  EXPECT_FALSE(f.Excluded("y/x", false, kRuleSender, &d));
}

}  // namespace
}  // namespace ktsync
