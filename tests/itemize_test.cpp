// links: ktsync_manifest
// itemize.cpp is compiled into this test directly: ktsync_cli globs all of src/cli (with its
// CLI11/transfer/store dependencies, edited by others), while itemize itself needs only the
// manifest headers, so this keeps the test building whatever state the rest of the CLI is in.
#include "../src/cli/itemize.cpp"

#include <gtest/gtest.h>

#include <string>

namespace ktsync {
namespace {

Entry Make(std::string path, EntryType type, uint64_t size = 0) {
  Entry e;
  e.path = std::move(path);
  e.type = type;
  e.size = size;
  return e;
}

Entry Link(std::string path, std::string target) {
  Entry e = Make(std::move(path), EntryType::Symlink);
  e.set_link_target(std::move(target));
  return e;
}

const Manifest kSrc = {
    Make("", EntryType::Dir),            // 0
    Make("d", EntryType::Dir),           // 1
    Make("d/f", EntryType::File, 123),   // 2
    Link("l", "d/f"),                    // 3
    Make("p", EntryType::Fifo),          // 4
    Make("dev", EntryType::BlockDev),    // 5
    [] {                                 // 6: hard link to d/f
      Entry e = Make("h", EntryType::File, 123);
      e.link_leader = 2;
      return e;
    }(),
    Make("a\nb", EntryType::File, 1),    // 7
    Make("bad\xff", EntryType::File, 2), // 8
};
const Manifest kDst = {
    Make("", EntryType::Dir),        // 0
    Make("gone", EntryType::File),   // 1
    Make("olddir", EntryType::Dir),  // 2
};

// What the planner would emit for SRC entry `s` and DST entry `d` (-1: none).
ItemView View(ActionKind k, int64_t s, int64_t d, uint16_t ch) {
  Action a;
  a.kind = k;
  a.changes = ch;
  a.replaces = d >= 0;
  a.src_index = s;
  a.entry = IsDeletion(k) ? kDst[static_cast<size_t>(d)] : kSrc[static_cast<size_t>(s)];
  if (k == ActionKind::HardLink) a.leader = kSrc[static_cast<size_t>(a.entry.link_leader)].path;
  return ViewOf(a);
}

std::string Line(ActionKind k, int64_t s, int64_t d, uint16_t ch, bool push = false) {
  return ItemizeLine(View(k, s, d, ch), push);
}

TEST(ItemizeLine, NewFileReceivedOrSent) {
  EXPECT_EQ(Line(ActionKind::SendFile, 2, -1, kChNew), ">f+++++++++ d/f");
  EXPECT_EQ(Line(ActionKind::SendFile, 2, -1, kChNew, true), "<f+++++++++ d/f");
}

TEST(ItemizeLine, ChangedFileShowsEachAttribute) {
  EXPECT_EQ(Line(ActionKind::SendFile, 2, 1, kChSize | kChMtime), ">f.st...... d/f");
  EXPECT_EQ(Line(ActionKind::SendFile, 2, 1, kChChecksum), ">fc........ d/f");
  EXPECT_EQ(Line(ActionKind::SendFile, 2, 1, kChPerms | kChOwner | kChGroup), ">f...pog... d/f");
  EXPECT_EQ(Line(ActionKind::SendFile, 2, 1, 0), ">f......... d/f");
  EXPECT_EQ(Line(ActionKind::MetaOnly, 2, 1, kChAcl), ".f.......a. d/f");  // rsync's a and x
  EXPECT_EQ(Line(ActionKind::MetaOnly, 2, 1, kChXattr | kChAcl), ".f.......ax d/f");
}

TEST(ItemizeLine, MetaOnlyUsesDot) {
  EXPECT_EQ(Line(ActionKind::MetaOnly, 2, 1, kChPerms), ".f...p..... d/f");
  EXPECT_EQ(Line(ActionKind::MetaOnly, 3, 1, kChMtime), ".L..t...... l -> d/f");
}

TEST(ItemizeLine, DirectoriesGetTrailingSlashAndRootIsDotSlash) {
  EXPECT_EQ(Line(ActionKind::MkDir, 1, -1, kChNew), "cd+++++++++ d/");
  EXPECT_EQ(Line(ActionKind::DirMeta, 1, 1, kChMtime), ".d..t...... d/");
  EXPECT_EQ(Line(ActionKind::DirMeta, 0, 0, kChPerms), ".d...p..... ./");
}

TEST(ItemizeLine, SilentDirMetaPrintsNothing) {
  EXPECT_EQ(Line(ActionKind::DirMeta, 0, 0, 0), "");
  EXPECT_EQ(Line(ActionKind::DirMeta, 1, -1, kChNew), "");
}

TEST(ItemizeLine, SymlinksSpecialsAndHardLinks) {
  EXPECT_EQ(Line(ActionKind::Symlink, 3, -1, kChNew), "cL+++++++++ l -> d/f");
  EXPECT_EQ(Line(ActionKind::Symlink, 3, 1, kChTarget), "cLc........ l -> d/f");
  EXPECT_EQ(Line(ActionKind::Special, 4, -1, kChNew), "cS+++++++++ p");
  EXPECT_EQ(Line(ActionKind::Special, 5, -1, kChNew), "cD+++++++++ dev");
  EXPECT_EQ(Line(ActionKind::HardLink, 6, -1, kChNew), "hf+++++++++ h => d/f");
}

TEST(ItemizeLine, DeletionsNameTheDestinationEntry) {
  EXPECT_EQ(Line(ActionKind::Delete, -1, 1, 0), "*deleting   gone");
  EXPECT_EQ(Line(ActionKind::Delete, -1, 2, 0), "*deleting   olddir/");
  // A type change: rsync prints only the new entry's line, not the removal of the entry in
  // the way (kChNew); what was beneath a directory in the way is deleted like any entry.
  EXPECT_EQ(Line(ActionKind::RemoveForType, -1, 2, kChNew), "");
  EXPECT_EQ(Line(ActionKind::RemoveForType, -1, 1, kChNew), "");
  EXPECT_EQ(Line(ActionKind::RemoveForType, -1, 2, 0), "*deleting   olddir/");
  EXPECT_EQ(Line(ActionKind::RemoveForType, -1, 1, 0), "*deleting   gone");
}

TEST(ItemizeLine, EscapesUnprintableBytes) {
  EXPECT_EQ(Line(ActionKind::SendFile, 7, -1, kChNew), ">f+++++++++ a\\#012b");
  EXPECT_EQ(Line(ActionKind::SendFile, 8, -1, kChNew), ">f+++++++++ bad\\#377");
}

TEST(EscapeItemName, KeepsValidUtf8AndEscapesTheRest) {
  EXPECT_EQ(EscapeItemName("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(EscapeItemName("tab\there\x7f"), "tab\\#011here\\#177");
  EXPECT_EQ(EscapeItemName("\xc3"), "\\#303");              // truncated sequence
  EXPECT_EQ(EscapeItemName("\xc0\xaf"), "\\#300\\#257");     // overlong '/'
  EXPECT_EQ(EscapeItemName("\xed\xa0\x80"), "\\#355\\#240\\#200");  // surrogate
  EXPECT_EQ(EscapeItemName("a\\#b"), "a\\#134#b");  // would otherwise read as an escape
  EXPECT_EQ(EscapeItemName("a\\b"), "a\\b");
}

TEST(JsonEscape, FollowsRfc8259AndMapsInvalidBytesToLatin1) {
  EXPECT_EQ(JsonEscape("q\"b\\s/"), "q\\\"b\\\\s/");
  EXPECT_EQ(JsonEscape("\n\t\r\b\f\x01\x7f"), "\\n\\t\\r\\b\\f\\u0001\\u007f");
  EXPECT_EQ(JsonEscape("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(JsonEscape("bad\xff\xc3"), "bad\\u00ff\\u00c3");
}

TEST(IsValidUtf8, AcceptsUtf8RejectsOthers) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain \xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));       // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));           // overlong
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

std::string Json(ActionKind k, int64_t s, int64_t d, uint16_t ch, bool push = false) {
  return ItemJson(View(k, s, d, ch), push);
}

TEST(ItemJson, DescribesEachAction) {
  EXPECT_EQ(Json(ActionKind::SendFile, 2, 1, kChSize),
            R"({"event":"item","op":"send","path":"d/f","type":"f","itemize":">f.s.......","size":123})");
  EXPECT_EQ(Json(ActionKind::SendFile, 2, -1, kChNew, true),
            R"({"event":"item","op":"send","path":"d/f","type":"f","itemize":"<f+++++++++","size":123})");
  EXPECT_EQ(Json(ActionKind::Symlink, 3, -1, kChNew),
            R"({"event":"item","op":"symlink","path":"l","type":"L","itemize":"cL+++++++++","size":0,"target":"d/f"})");
  EXPECT_EQ(Json(ActionKind::HardLink, 6, -1, kChNew),
            R"({"event":"item","op":"hardlink","path":"h","type":"f","itemize":"hf+++++++++","size":123,"leader":"d/f"})");
  EXPECT_EQ(Json(ActionKind::Delete, -1, 2, 0),
            R"({"event":"item","op":"delete","path":"olddir","type":"d","itemize":"*deleting  ","size":0})");
  EXPECT_EQ(Json(ActionKind::RemoveForType, -1, 1, 0),
            R"({"event":"item","op":"remove","path":"gone","type":"f","itemize":"*deleting  ","size":0})");
  EXPECT_EQ(Json(ActionKind::RemoveForType, -1, 1, kChNew),  // an item though it has no itemize line
            R"({"event":"item","op":"remove","path":"gone","type":"f","itemize":"*deleting  ","size":0})");
  EXPECT_EQ(Json(ActionKind::DirMeta, 0, 0, kChMtime),
            R"({"event":"item","op":"dirmeta","path":".","type":"d","itemize":".d..t......","size":0})");
  EXPECT_EQ(Json(ActionKind::MetaOnly, 4, 1, kChPerms),
            R"({"event":"item","op":"meta","path":"p","type":"S","itemize":".S...p.....","size":0})");
  EXPECT_EQ(Json(ActionKind::MkDir, 1, -1, kChNew),
            R"({"event":"item","op":"mkdir","path":"d","type":"d","itemize":"cd+++++++++","size":0})");
  EXPECT_EQ(Json(ActionKind::Special, 5, -1, kChNew),
            R"({"event":"item","op":"special","path":"dev","type":"D","itemize":"cD+++++++++","size":0})");
}

TEST(ItemJson, SilentExactlyWhenItemizeLineIs) {
  EXPECT_EQ(Json(ActionKind::DirMeta, 0, 0, 0), "");
  EXPECT_EQ(Json(ActionKind::DirMeta, 1, -1, kChNew), "");
}

TEST(ItemJson, EscapesControlBytesAndAddsHexForInvalidUtf8) {
  EXPECT_EQ(Json(ActionKind::SendFile, 7, -1, kChNew),
            R"({"event":"item","op":"send","path":"a\nb","type":"f","itemize":">f+++++++++","size":1})");
  EXPECT_EQ(Json(ActionKind::SendFile, 8, -1, kChNew),
            R"({"event":"item","op":"send","path":"bad\u00ff","path_hex":"626164ff","type":"f","itemize":">f+++++++++","size":2})");
}

TEST(Totals, TextAndJson) {
  PlanTotals t{3, 4096, 2, 5, 7};
  EXPECT_EQ(TotalsText(t),
            "Number of files to send: 3\n"
            "Total bytes to send: 4096\n"
            "Number of entries to delete: 2\n"
            "Number of metadata-only updates: 5\n"
            "Number of other changes: 7\n");
  EXPECT_EQ(TotalsJson(t),
            R"({"event":"totals","files_to_send":3,"bytes_to_send":4096,"to_delete":2,"meta_only":5,"created_other":7})");
}

}  // namespace
}  // namespace ktsync
