// links: ktsync_manifest
#include "manifest/file_list.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "util/error.h"

namespace ktsync {
namespace {

using Pick = FileList::Pick;

std::vector<std::string> Paths(const std::vector<ListedPath>& v) {
  std::vector<std::string> out;
  for (const ListedPath& p : v) out.push_back(p.path + (p.contents ? "/" : ""));
  return out;
}

std::vector<std::string> Parse(std::string_view text, bool from0 = false) {
  return Paths(ParseFileList(text, from0, "list"));
}

TEST(FileList, LinesCommentsAndBlankLines) {
  EXPECT_EQ(Parse("a\n#c\n;d\n\nb/c\n"), (std::vector<std::string>{"a", "b/c"}));
  EXPECT_EQ(Parse("a"), (std::vector<std::string>{"a"}));  // no final newline
  EXPECT_EQ(Parse(" a \n"), (std::vector<std::string>{" a "}));  // spaces belong to the name
}

TEST(FileList, CarriageReturnsEndLines) {
  EXPECT_EQ(Parse("a\r\nb\rc\n"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(FileList, From0SeparatesByNulAndHasNoComments) {
  using namespace std::string_literals;
  EXPECT_EQ(Parse("a\0#b\0c\nd\0"s, true), (std::vector<std::string>{"a", "#b", "c\nd"}));
}

TEST(FileList, LeadingSlashesAndDotComponentsAreDropped) {
  EXPECT_EQ(Parse("/a/b\n./c\n//d//e\n././f\n"), (std::vector<std::string>{"a/b", "c", "d/e", "f"}));
}

TEST(FileList, TrailingSlashOrDotTakesTheContents) {
  EXPECT_EQ(Parse("d/\n.\n/\n./\n"), (std::vector<std::string>{"d/", "/", "/", "/"}));
}

TEST(FileList, DotDotIsRefusedNamingTheLine) {
  try {
    Parse("a\n#x\nb/../c\n");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Usage);
    std::string what = e.what();
    EXPECT_NE(what.find("list line 3"), std::string::npos) << what;
    EXPECT_NE(what.find("b/../c"), std::string::npos) << what;
  }
  EXPECT_THROW(Parse(".."), Error);
  EXPECT_THROW(Parse("d/./f"), Error);  // rsync -R's marker: DST would get "f"
  EXPECT_THROW(Parse("d/."), Error);
  EXPECT_NO_THROW(Parse("a..b/..c"));  // only a whole ".." component leaves SRC
}

FileList Make(std::string_view text, bool recursive) { return FileList(ParseFileList(text, false, "l"), recursive); }

TEST(FileList, SortsAndMergesDuplicates) {
  FileList l = Make("b\na/x\nb/\na\n", false);
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l.path(0), "a");
  EXPECT_EQ(l.path(1), "a/x");
  EXPECT_EQ(l.path(2), "b");
  EXPECT_EQ(l.PickChild(Pick::Partial, "b", true), Pick::Whole);  // "b/" wins over "b"
  EXPECT_EQ(l.Find("a/x"), 1u);
  EXPECT_EQ(l.Find("a/y"), 3u);
}

TEST(FileList, ImpliedParentsArePartial) {
  FileList l = Make("a/b/f\n", false);
  EXPECT_EQ(l.RootPick(), Pick::Partial);
  EXPECT_EQ(l.PickChild(Pick::Partial, "a", true), Pick::Partial);
  EXPECT_EQ(l.PickChild(Pick::Partial, "a/b", true), Pick::Partial);
  EXPECT_EQ(l.PickChild(Pick::Partial, "a/b/f", false), Pick::Alone);
  EXPECT_EQ(l.PickChild(Pick::Partial, "a/b/g", false), Pick::Out);
  EXPECT_EQ(l.PickChild(Pick::Partial, "a/c", true), Pick::Out);
  // "a b" sorts before "a/b": the prefix search must not be fooled by it.
  EXPECT_EQ(Make("a b\n", false).PickChild(Pick::Partial, "a", true), Pick::Out);
  EXPECT_EQ(Make("a b\na/c\n", false).PickChild(Pick::Partial, "a", true), Pick::Partial);
}

TEST(FileList, ListedDirectoryAloneUnlessRecursiveOrTrailingSlash) {
  FileList plain = Make("d\n", false);
  EXPECT_EQ(plain.PickChild(Pick::Partial, "d", true), Pick::Alone);
  FileList rec = Make("d\n", true);
  EXPECT_EQ(rec.PickChild(Pick::Partial, "d", true), Pick::Whole);
  EXPECT_EQ(rec.PickChild(Pick::Whole, "d/s", true), Pick::Whole);
  EXPECT_EQ(rec.PickChild(Pick::Whole, "d/s/f", false), Pick::Alone);
  FileList slash = Make("d/\nd/t/x\n", false);
  EXPECT_EQ(slash.PickChild(Pick::Partial, "d", true), Pick::Whole);
  EXPECT_EQ(slash.PickChild(Pick::Whole, "d/f", false), Pick::Alone);
  EXPECT_EQ(slash.PickChild(Pick::Whole, "d/s", true), Pick::Alone);    // one level deep
  EXPECT_EQ(slash.PickChild(Pick::Whole, "d/t", true), Pick::Partial);  // and what is listed beneath
  // A listed directory with listed entries beneath it keeps DST's others.
  EXPECT_EQ(Make("c\nc/h\n", false).PickChild(Pick::Partial, "c", true), Pick::Partial);
}

TEST(FileList, BeneathIsTheRunOfPathsInsideADirectory) {
  FileList l = Make(".\na\na b\na/b\na/c/d\na0\nb\n", false);  // "", a, a b, a/b, a/c/d, a0, b
  EXPECT_EQ(l.Beneath("a"), (std::pair<size_t, size_t>{3, 5}));
  EXPECT_EQ(l.Beneath("a/c"), (std::pair<size_t, size_t>{4, 5}));
  EXPECT_EQ(l.Beneath("b"), (std::pair<size_t, size_t>{7, 7}));
  EXPECT_EQ(l.Beneath(""), (std::pair<size_t, size_t>{1, 7}));
}

TEST(FileList, RootListedTakesItsContents) {
  EXPECT_EQ(Make(".\n", false).RootPick(), Pick::Whole);
  EXPECT_EQ(Make(".\n", false).PickChild(Pick::Whole, "d", true), Pick::Alone);
  EXPECT_EQ(Make(".\n", true).PickChild(Pick::Whole, "d", true), Pick::Whole);
  EXPECT_EQ(Make("", false).RootPick(), Pick::Partial);
}

TEST(FileList, ListedFileIsAloneAndAFileListedAsDirectoryToo) {
  FileList l = Make("f\ng/\n", false);
  EXPECT_EQ(l.PickChild(Pick::Partial, "f", false), Pick::Alone);
  EXPECT_EQ(l.PickChild(Pick::Partial, "g", false), Pick::Alone);
}

}  // namespace
}  // namespace ktsync
