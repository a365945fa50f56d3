// Feeds arbitrary bytes to the session-layer decoders (Request, Ready, Report) and to the
// receiver's plan check on decoded manifests and plans. The only acceptable failure is a
// thrown ktsync::Error; ASan/UBSan catch the rest. Invariants that must hold on any input
// abort the fuzzer when broken:
// * a message that decodes re-encodes to the very same bytes (one encoding per message);
// * a plan that passes CheckReceivedPlan still passes after SubsetForPlan, and the subset
//   survives the wire's placement rules (what a pushing client sends must be acceptable);
// * every plan PlanMirror makes from well-formed manifests passes CheckReceivedPlan.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transfer/plan_check.h"
#include "transfer/plan_subset.h"
#include "transfer/session_messages.h"
#include "transfer/wire.h"

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

Manifest ThroughTheWire(const Manifest& m) {
  Manifest out;
  std::span<const Entry> rest(m);
  while (!rest.empty()) {
    std::string payload;
    size_t n = EncodeEntryBatch(rest, payload);
    Require(n > 0);
    DecodeEntryBatch(payload, out);  // must not throw: the subset of a valid list is valid
    rest = rest.subspan(n);
  }
  return out;
}

// A plan the receiver accepted: the subset a pushing client would send in its place must be
// accepted too, index for index.
void CheckSubsetOfAcceptedPlanOrThrow(const Plan& plan, const Manifest& src, const Manifest& dst) {
  PlanSubset s = SubsetForPlan(plan, src);
  Manifest entries = SubsetEntries(s, src, 0, s.original.size());
  Require(entries.size() == s.original.size());
  Require(s.plan.actions.size() == plan.actions.size());
  Manifest received = ThroughTheWire(entries);
  Require(received.size() == entries.size());
  std::string payload;
  std::span<const Action> rest(s.plan.actions);
  Plan got;
  while (!rest.empty()) {
    payload.clear();
    size_t n = EncodePlanBatch(rest, payload);
    DecodePlanBatch(payload, received.size(), dst.size(), got.actions);
    rest = rest.subspan(n);
  }
  CheckReceivedPlan(got, received, dst);
  for (size_t k = 0; k < plan.actions.size(); ++k) {
    int64_t i = got.actions[k].src;
    if (i >= 0) Require(received[static_cast<size_t>(i)].path == src[static_cast<size_t>(plan.actions[k].src)].path);
  }
}

void CheckSubsetOfAcceptedPlan(const Plan& plan, const Manifest& src, const Manifest& dst) {
  try {
    CheckSubsetOfAcceptedPlanOrThrow(plan, src, dst);
  } catch (const Error&) {
    std::abort();  // the subset of an acceptable plan was refused
  }
}

// Raw mode: both manifests and the plan straight from the input, as a hostile client sends them.
void FuzzRawPlan(std::string_view in) {
  Bytes b(in);
  Manifest src, dst;
  DecodeEntryBatch(b.Chunk(), src);
  DecodeEntryBatch(b.Chunk(), dst);
  Plan plan;
  DecodePlanBatch(b.Rest(), src.size(), dst.size(), plan.actions);
  CheckReceivedPlan(plan, src, dst);
  CheckSubsetOfAcceptedPlan(plan, src, dst);
}

// Structured mode: well-formed trees built from the input, PlanMirror's plan (which must pass),
// then that plan mutated by the rest of the input (which may fail, but only with Error).
class TreeBuilder {
 public:
  explicit TreeBuilder(Bytes& b) : b_(b) {}
  Manifest Build(bool hard_links) {
    Manifest m;
    Entry root;
    root.type = EntryType::Dir;
    root.mode = 0755;
    m.push_back(root);
    Fill("", 0, m);
    if (hard_links) {
      std::vector<int64_t> leaders;
      for (size_t i = 0; i < m.size(); ++i) {
        if (!m[i].IsFile()) continue;
        uint8_t pick = b_.U8();
        if (!leaders.empty() && (pick & 1)) {
          m[i].link_leader = leaders[(pick >> 1) % leaders.size()];
        } else {
          leaders.push_back(static_cast<int64_t>(i));
        }
      }
    }
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
      e.mtime_ns = (v >> 7) & 1;
      switch (v % 6) {
        case 0: continue;
        case 1: e.type = EntryType::File; e.size = (v >> 3) & 3; break;
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

void FuzzStructuredPlan(std::string_view in, bool hard_links) {
  Bytes b(in);
  Manifest src = TreeBuilder(b).Build(hard_links);
  Manifest dst = TreeBuilder(b).Build(false);
  PlanOptions opts;
  opts.hard_links = hard_links;
  Plan plan = PlanMirror(src, dst, opts);
  try {
    CheckReceivedPlan(plan, src, dst);
  } catch (const Error&) {
    std::abort();  // the receiver refused what an honest sender plans
  }
  CheckSubsetOfAcceptedPlan(plan, src, dst);
  // Mutations: retarget, retype, or append actions (indices kept in the decoder's range).
  while (!b.empty()) {
    uint8_t op = b.U8();
    uint8_t kind = static_cast<uint8_t>(1 + b.U8() % 9);
    int64_t s = static_cast<int64_t>(b.U8() % (src.size() + 1)) - 1;
    int64_t d = static_cast<int64_t>(b.U8() % (dst.size() + 1)) - 1;
    Action a{static_cast<ActionKind>(kind), s, d, 0};
    if (op & 1 || plan.actions.empty()) {
      plan.actions.push_back(a);
    } else {
      plan.actions[op % plan.actions.size()] = a;
    }
  }
  std::string payload;
  Require(EncodePlanBatch(plan.actions, payload) == plan.actions.size());
  Plan got;
  DecodePlanBatch(payload, src.size(), dst.size(), got.actions);
  CheckReceivedPlan(got, src, dst);
  CheckSubsetOfAcceptedPlan(got, src, dst);
}

}  // namespace
}  // namespace ktsync

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ktsync;
  if (size < 1) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch (data[0] % 6) {
      case 0: FuzzRequest(in); break;
      case 1: FuzzReady(in); break;
      case 2: FuzzReport(in); break;
      case 3: FuzzRawPlan(in); break;
      case 4: FuzzStructuredPlan(in, false); break;
      case 5: FuzzStructuredPlan(in, true); break;
    }
  } catch (const Error&) {
    // the expected outcome for malformed input
  }
  return 0;
}
