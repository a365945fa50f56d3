// Feeds arbitrary bytes to the session-layer decoders (Request, Ready, Report, DataRoute) and to the
// planner over streams decoded from the wire. The only acceptable failure is a thrown
// ktsync::Error; ASan/UBSan catch the rest. Invariants that must hold on any input abort
// the fuzzer when broken:
// * a message that decodes re-encodes to the very same bytes (one encoding per message);
// * the plan of any two well-formed trees, carried out in plan.h's order on a model of DST,
//   makes it identical to SRC (tests/plan_model.h), hard links included.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transfer/session_messages.h"
#include "transfer/wire.h"

#include "../tests/plan_model.h"

namespace ktsync {
namespace {

void Require(bool ok) {
  if (!ok) std::abort();
}

// Consumes the input front to back; runs dry as zeros.
class Bytes {
 public:
  explicit Bytes(std::string_view in) : in_(in) {}
  uint8_t U8() {
    if (in_.empty()) return 0;
    uint8_t v = static_cast<uint8_t>(in_.front());
    in_.remove_prefix(1);
    return v;
  }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  // A length-prefixed chunk (u16 length), cut short at the end of the input.
  std::string_view Chunk() {
    size_t n = std::min<size_t>(U16(), in_.size());
    std::string_view c = in_.substr(0, n);
    in_.remove_prefix(n);
    return c;
  }
  std::string_view Rest() { return std::exchange(in_, {}); }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

void FuzzRequest(std::string_view in) {
  SessionRequest r = DecodeRequest(in);
  std::string out;
  EncodeRequest(r, out);
  Require(out == in);
}

void FuzzReady(std::string_view in) {
  SessionReady r = DecodeReady(in);
  std::string out;
  EncodeReady(r, out);
  Require(out == in);
  Require(DecodeReady(out) == r);
}

void FuzzReport(std::string_view in) {
  SessionReport r = DecodeReport(in);
  std::string out;
  EncodeReport(r, out);
  Require(out == in);
}

void FuzzDataRoute(std::string_view in) {
  std::string out;
  EncodeDataRoute(DecodeDataRoute(in), out);
  Require(out == in);
}

// A hostile peer's streams, straight from the input, through the merge and the planner into
// a model of DST: any input may be refused (Error), nothing else may happen.
void FuzzRawStreams(std::string_view in, bool hard_links) {
  Bytes b(in);
  Manifest src, dst;
  for (Manifest* m : {&src, &dst}) {
    ManifestDecoder decoder;
    EntryBatch batch;
    decoder.Decode(b.Chunk(), batch);
    *m = std::move(batch.entries);
  }
  PlanOptions opts;
  opts.hard_links = hard_links;
  plan_model::PlanMakesDestinationIdentical(src, dst, opts);  // the verdict may be anything here
}

// Well-formed trees built from the input: the plan must make DST identical to SRC.
class TreeBuilder {
 public:
  explicit TreeBuilder(Bytes& b) : b_(b) {}
  Manifest Build(bool hard_links, uint64_t dev) {
    Manifest m;
    Entry root;
    root.type = EntryType::Dir;
    root.mode = 0755;
    m.push_back(root);
    Fill("", 0, m);
    plan_model::LinkSomeFiles(m, dev, 1, [&](size_t n) {
      uint8_t pick = b_.U8();
      return hard_links && (pick & 1) ? (pick >> 1) % n : n;
    });
    return m;
  }

 private:
  void Fill(const std::string& dir, int depth, Manifest& m) {
    static const char* kNames[] = {"a", "a.b", "b", "c"};
    for (const char* name : kNames) {
      uint8_t v = b_.U8();
      Entry e;
      e.path = dir.empty() ? name : dir + "/" + name;
      e.mode = (v & 0x40) ? 0600 : 0644;
      e.mtime = {static_cast<int64_t>((v >> 7) & 1), 0};
      switch (v % 6) {
        case 0: continue;
        case 1:
          e.type = EntryType::File;
          e.size = (v >> 3) & 1;
          e.hash = Hash128{static_cast<uint64_t>((v >> 3) & 3), 0};
          break;
        case 2:
          e.type = EntryType::Dir;
          m.push_back(e);
          if (depth < 3) Fill(e.path, depth + 1, m);
          continue;
        case 3: e.type = EntryType::Symlink; e.set_link_target((v & 8) ? "x" : "y"); break;
        case 4: e.type = EntryType::Fifo; break;
        default: e.type = EntryType::CharDev; e.set_rdev((v >> 3) & 1); break;
      }
      m.push_back(std::move(e));
    }
  }
  Bytes& b_;
};

// Same path, size and mtime: the same content, as the quick check assumes.
void MakeConsistent(const Manifest& src, Manifest& dst) {
  for (Entry& d : dst) {
    if (!d.IsFile()) continue;
    for (const Entry& s : src)
      if (s.path == d.path && s.IsFile() && s.size == d.size && s.mtime == d.mtime) d.hash = s.hash;
  }
}

void FuzzStructuredPlan(std::string_view in, bool hard_links) {
  Bytes b(in);
  Manifest src = TreeBuilder(b).Build(hard_links, 1);
  Manifest dst = TreeBuilder(b).Build(false, 2);
  MakeConsistent(src, dst);
  PlanOptions opts;
  opts.hard_links = hard_links;
  opts.checksum = b.U8() & 1;
  std::string why;
  try {
    why = plan_model::PlanMakesDestinationIdentical(src, dst, opts);
  } catch (const Error&) {
    std::abort();  // well-formed trees are never refused
  }
  Require(why.empty());
}

}  // namespace
}  // namespace ktsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ktsync;
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 7) {
      case 0: FuzzRequest(in); break;
      case 1: FuzzReady(in); break;
      case 2: FuzzReport(in); break;
      case 3: FuzzRawStreams(in, data[0] & 0x80); break;
      case 4: FuzzStructuredPlan(in, false); break;
      case 5: FuzzStructuredPlan(in, true); break;
      case 6: FuzzDataRoute(in); break;
    }
  } catch (const Error&) {
    // the expected outcome for malformed input
  }
  return 0;
}
