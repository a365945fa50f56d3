#include "mirror/action_spool.h"

#include "transfer/byte_io.h"

namespace ktsync {

void ActionSpool::Append(const Action& a) {
  buf_.clear();
  ByteWriter w(buf_);
  const Entry& e = a.entry;
  w.U8(static_cast<uint8_t>(a.kind));
  w.U16(a.changes);
  w.U8(a.replaces ? 1 : 0);
  w.I64(a.src_index);
  w.Str16(e.path);
  w.U8(static_cast<uint8_t>(e.type));
  w.U32(e.mode);
  w.U32(e.uid);
  w.U32(e.gid);
  w.U64(e.size);
  w.I64(e.mtime.sec);
  w.U32(e.mtime.nsec);
  w.U64(e.rdev());
  w.Str16(e.link_target());
  w.Str16(a.leader);
  spool_.Append(buf_);
}

void ActionSpool::ForEachReversed(const std::function<void(Action)>& fn) {
  spool_.ForEachReversed([&](std::string_view rec) {
    ByteReader r(rec, "spooled action");
    Action a;
    a.kind = static_cast<ActionKind>(r.U8("kind"));
    a.changes = r.U16("changes");
    a.replaces = r.U8("replaces") != 0;
    a.src_index = r.I64("index");
    Entry& e = a.entry;
    e.path = r.Str16(SIZE_MAX, "path");
    e.type = static_cast<EntryType>(r.U8("type"));
    e.mode = r.U32("mode");
    e.uid = r.U32("uid");
    e.gid = r.U32("gid");
    e.size = r.U64("size");
    e.mtime.sec = r.I64("mtime");
    e.mtime.nsec = r.U32("mtime nanoseconds");
    if (uint64_t rdev = r.U64("rdev")) e.set_rdev(rdev);
    if (std::string_view t = r.Str16(SIZE_MAX, "target"); !t.empty()) e.set_link_target(std::string(t));
    a.leader = r.Str16(SIZE_MAX, "leader");
    fn(std::move(a));
  });
}

}  // namespace ktsync
