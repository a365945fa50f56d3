// links: ktsync_manifest
#include "manifest/filter.h"

#include <gtest/gtest.h>

#include <string>

#include "util/error.h"

namespace ktsync {
namespace {

Filter Excluding(std::initializer_list<const char*> patterns) {
  Filter f;
  for (const char* p : patterns) f.Add(false, p);
  return f;
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
  EXPECT_TRUE(ExcludesFile(f, "a/z"));  // "**/" may stand for no directory
  EXPECT_FALSE(ExcludesFile(f, "b/a/z"));
  EXPECT_FALSE(ExcludesFile(f, "a/b/zz"));

  Filter g = Excluding({"/a**"});
  EXPECT_TRUE(ExcludesFile(g, "a/b/c"));
  EXPECT_TRUE(ExcludesFile(g, "abc/d"));
}

TEST(FilterTest, LeadingDoubleStarSlashMatchesAtAnyDepth) {
  Filter f = Excluding({"/**/.ssh"});
  EXPECT_TRUE(ExcludesDir(f, ".ssh"));
  EXPECT_TRUE(ExcludesDir(f, "home/u/.ssh"));
  EXPECT_FALSE(ExcludesDir(f, "home/u/.sshx"));
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
  Filter f;
  f.Add(true, "/keep/***");
  f.Add(false, "*");
  EXPECT_FALSE(ExcludesDir(f, "keep"));
  EXPECT_FALSE(ExcludesFile(f, "keep/x"));
  EXPECT_FALSE(ExcludesFile(f, "keep/x/y"));
  EXPECT_TRUE(ExcludesFile(f, "keep"));  // as if "keep/": a file named keep is not it
  EXPECT_TRUE(ExcludesFile(f, "keeper"));
  EXPECT_TRUE(ExcludesDir(f, "other"));
}

TEST(FilterTest, FirstMatchingRuleWins) {
  Filter f;
  f.Add(true, "*.h");
  f.Add(false, "*");
  EXPECT_FALSE(ExcludesFile(f, "a.h"));
  EXPECT_TRUE(ExcludesFile(f, "a.c"));

  Filter reversed;
  reversed.Add(false, "*");
  reversed.Add(true, "*.h");
  EXPECT_TRUE(ExcludesFile(reversed, "a.h"));
}

TEST(FilterTest, IncludeDirsThenFilesPattern) {
  Filter f;
  f.Add(true, "*/");
  f.Add(true, "*.txt");
  f.Add(false, "*");
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
  for (const char* bad : {"[abc", "a[", "*\\", "/", "", "[[:nope:]]", "/***"}) {
    Filter f;
    try {
      f.Add(false, bad);
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

TEST(FilterTest, ParsesExcludeFromText) {
  std::vector<FilterRule> rules = ParseFilterText(
      "# comment\n"
      "; also comment\n"
      "\n"
      "*.o\n"
      "+ keep.o\n"
      "- /build/\r\n"
      "a b \n"
      "+x\n",
      false);
  std::vector<FilterRule> want = {{false, "*.o"},  {true, "keep.o"}, {false, "/build/"},
                                  {false, "a b "}, {false, "+x"}};
  EXPECT_EQ(rules, want);
  EXPECT_EQ(ParseFilterText("x\n- y", true),
            (std::vector<FilterRule>{{true, "x"}, {false, "y"}}));
  EXPECT_THROW(ParseFilterText("!\n", false), Error);
}

TEST(FilterTest, AddFromTextKeepsOrderAndRules) {
  Filter f;
  f.AddFromText("+ keep.o\n*.o\n", false);
  EXPECT_FALSE(ExcludesFile(f, "keep.o"));
  EXPECT_TRUE(ExcludesFile(f, "x.o"));
  ASSERT_EQ(f.rules().size(), 2u);
  EXPECT_EQ(f.rules()[0], (FilterRule{true, "keep.o"}));
}

}  // namespace
}  // namespace ktsync
