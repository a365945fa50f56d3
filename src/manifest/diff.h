// Diff primitives: the merge of two path-ordered entry streams into pairs, and the per-pair
// comparisons (content, metadata) the Planner decides with.
//
// MergeWalk refuses a stream that is not strictly in path order, does not start with the
// root, skips ordinals, or lists an entry whose parent is not a directory listed before it:
// a duplicated or misordered path from a hostile or buggy peer would otherwise pair the wrong
// entries and plan deletions of files that exist in the source.
#pragma once

#include <cstdint>
#include <string>

#include "manifest/entry.h"
#include "manifest/plan.h"

namespace ktsync {

// A stream of entries in path order, a batch at a time.
class EntrySource {
 public:
  virtual ~EntrySource() = default;
  // Replaces `out` with the next batch (its `first` is the ordinal of its first entry);
  // false at the end of the stream.
  virtual bool NextBatch(EntryBatch& out) = 0;
};

class MergeWalk {
 public:
  MergeWalk(EntrySource& src, EntrySource& dst);

  // The next pair in path order; false when both streams ended. Throws Error(StreamData)
  // naming the offending path when a stream breaks the order rules above.
  bool Next(EntryPair& out);
  // Ordinal of the next SRC entry Next has not returned yet (the count, at the end).
  int64_t next_src_index() const;

 private:
  class Side {
   public:
    Side(EntrySource& source, const char* name) : source_(source), name_(name) {}
    Entry* Head();           // null at the end of the stream
    int64_t head_index() const { return batch_.first + static_cast<int64_t>(pos_); }
    Entry Take(int64_t* index);

   private:
    void Check(const Entry& e);
    EntrySource& source_;
    const char* name_;
    EntryBatch batch_;
    size_t pos_ = 0;
    bool ended_ = false;
    int64_t next_ordinal_ = 0;
    std::string prev_path_;
    bool prev_dir_ = false;
  };
  Side src_, dst_;
};

// True when a same-path pair of regular files can only be judged by content hashes: equal
// size and (--checksum or differing mtime).
bool PairNeedsHash(const Entry& s, const Entry& d, const PlanOptions& opts);

// True when a transfer rule of `opts` (-u, --ignore-existing, --existing, --max-size,
// --min-size) leaves the path of SRC entry `s` alone; `d` is DST's entry there, if any.
bool SkipsTransfer(const Entry& s, const Entry* d, const PlanOptions& opts);

// Metadata bits (kChMtime/kChPerms/kChOwner/kChGroup/kChAcl/kChXattr) that differ and that
// `opts` mirrors (extended attributes: only the classes DST may write).
// Symlink permissions are never compared: Linux cannot change them.
uint16_t MetaBits(const Entry& s, const Entry& d, const PlanOptions& opts);

struct ContentDiff {
  bool same = false;
  uint16_t bits = 0;  // kChSize and/or kChChecksum when content differs
};

// Content comparison of two regular files at the same path. A pair that needed hashes and
// lacks one on either side is different: never assumed equal.
ContentDiff CompareFileContent(const Entry& s, const Entry& d, const PlanOptions& opts);

}  // namespace ktsync
