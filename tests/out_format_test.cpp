// links: ktsync_manifest
// Compiled in directly, like itemize_test: these need only the manifest headers.
#include "../src/cli/itemize.cpp"
#include "../src/cli/out_format.cpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

namespace ktsync {
namespace {

ItemView View(ActionKind kind, EntryType type, std::string path, uint16_t changes = kChNew, uint64_t size = 0) {
  ItemView v;
  v.kind = kind;
  v.type = type;
  v.path = std::move(path);
  v.changes = changes;
  v.size = size;
  return v;
}

ItemContext Local() {
  ItemContext c;
  c.src_root = "src/";
  c.dst_root = "/backup/dst";
  c.now = 0;
  c.pid = 42;
  return c;
}

TEST(OutFormat, VerboseNamesSentFilesNewEntriesDirsAndDeletionsLikeRsync) {
  OutFormat v = OutFormat::Parse("%n%L", "-v");
  EXPECT_EQ("a/f", v.Line(View(ActionKind::SendFile, EntryType::File, "a/f", kChSize), Local()));
  EXPECT_EQ("a/", v.Line(View(ActionKind::MkDir, EntryType::Dir, "a"), Local()));
  EXPECT_EQ("./", v.Line(View(ActionKind::DirMeta, EntryType::Dir, "", kChMtime), Local()));
  EXPECT_EQ("deleting old/", v.Line(View(ActionKind::Delete, EntryType::Dir, "old"), Local()));
  ItemView link = View(ActionKind::Symlink, EntryType::Symlink, "l");
  link.target = "f1";
  EXPECT_EQ("l -> f1", v.Line(link, Local()));
  ItemView hard = View(ActionKind::HardLink, EntryType::File, "hl");
  hard.leader = "f1";
  EXPECT_EQ("hl => f1", v.Line(hard, Local()));
}

TEST(OutFormat, VerboseLeavesOutAttributeOnlyFileChangesAndTypeRemovals) {
  OutFormat v = OutFormat::Parse("%n%L", "-v");
  EXPECT_EQ("", v.Line(View(ActionKind::MetaOnly, EntryType::File, "f", kChPerms), Local()));
  EXPECT_EQ("", v.Line(View(ActionKind::RemoveForType, EntryType::File, "f", kChNew), Local()));
  // Beneath a directory that a type change replaces: deleted, as rsync -v shows.
  EXPECT_EQ("deleting d/f", v.Line(View(ActionKind::RemoveForType, EntryType::File, "d/f", 0), Local()));
  EXPECT_EQ("", v.Line(View(ActionKind::DirMeta, EntryType::Dir, "d", 0), Local()));
}

TEST(OutFormat, ItemizingTemplateShowsEveryChangeAsItemizeLinesDo) {
  OutFormat f = OutFormat::Parse("%i %n%L", "--out-format");
  ItemView meta = View(ActionKind::MetaOnly, EntryType::File, "f", kChPerms);
  EXPECT_EQ(ItemizeLine(meta, false), f.Line(meta, Local()));
  ItemView del = View(ActionKind::Delete, EntryType::File, "x");
  EXPECT_EQ("*deleting   x", f.Line(del, Local()));
  // A type change: only the new entry's line, as rsync prints it.
  EXPECT_EQ("", f.Line(View(ActionKind::RemoveForType, EntryType::File, "t", kChNew), Local()));
  OutFormat o = OutFormat::Parse("%o %n", "--out-format");
  EXPECT_EQ("", o.Line(View(ActionKind::RemoveForType, EntryType::Dir, "q", kChNew), Local()));
  EXPECT_EQ("*deleting   q/x", f.Line(View(ActionKind::RemoveForType, EntryType::File, "q/x", 0), Local()));
  EXPECT_EQ("del. q/x", o.Line(View(ActionKind::RemoveForType, EntryType::File, "q/x", 0), Local()));
}

TEST(OutFormat, ExpandsEscapesWithRsyncsPadding) {
  OutFormat f = OutFormat::Parse("[%-6n|%6l|%b|%o|%p|%%]", "--out-format");
  EXPECT_EQ("[f     |    12|12|send|42|%]", f.Line(View(ActionKind::SendFile, EntryType::File, "f", kChNew, 12), Local()));
  ItemContext pull = Local();
  pull.pull = true;
  EXPECT_EQ("[d/    |     0|0|recv|42|%]", f.Line(View(ActionKind::MkDir, EntryType::Dir, "d"), pull));
  ItemView link = View(ActionKind::Symlink, EntryType::Symlink, "l");
  link.target = "keep/f";
  EXPECT_EQ("[l     |     6|0|send|42|%]", f.Line(link, Local()));
}

TEST(OutFormat, ModTimeIsTheEntrysLocalMtimeWithADash) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  OutFormat f = OutFormat::Parse("%n %M", "--out-format");
  ItemView sent = View(ActionKind::SendFile, EntryType::File, "f");
  sent.mtime = 1796480100;  // 2026-12-05 14:15:00 UTC
  EXPECT_EQ("f 2026/12/05-14:15:00", f.Line(sent, Local()));
  EXPECT_EQ("deleting x", f.Line(View(ActionKind::Delete, EntryType::File, "x"), Local()));
  OutFormat o = OutFormat::Parse("%o %n %M", "--out-format");
  EXPECT_EQ("del. x 1970/01/01-00:00:00", o.Line(View(ActionKind::Delete, EntryType::File, "x"), Local()));
}

TEST(OutFormat, FullNameJoinsTheTreeWhereTheChangeHappens) {
  OutFormat f = OutFormat::Parse("%f %o", "--out-format");
  EXPECT_EQ("src/a/f send", f.Line(View(ActionKind::SendFile, EntryType::File, "a/f"), Local()));
  EXPECT_EQ("src send", f.Line(View(ActionKind::DirMeta, EntryType::Dir, "", kChMtime), Local()));
  EXPECT_EQ("/backup/dst/x del.", f.Line(View(ActionKind::Delete, EntryType::File, "x"), Local()));
  OutFormat i = OutFormat::Parse("%i %f", "--out-format");
  EXPECT_EQ("*deleting   /backup/dst/x", i.Line(View(ActionKind::Delete, EntryType::File, "x"), Local()));
  OutFormat n = OutFormat::Parse("%f", "--out-format");
  EXPECT_EQ("deleting x", n.Line(View(ActionKind::Delete, EntryType::File, "x"), Local()));
}

TEST(OutFormat, RefusesEscapesItDoesNotKnowNamingThem) {
  for (const char* bad : {"%U", "%n %u", "%-5q", "trailing %", "%'l"}) {
    try {
      OutFormat::Parse(bad, "--out-format");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(ExitCode::Usage, e.code());
      EXPECT_NE(std::string::npos, std::string(e.what()).find("--out-format: '%")) << e.what();
    }
  }
}

}  // namespace
}  // namespace ktsync
