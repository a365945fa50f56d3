// The source half of a network run: what runs on the side that holds SRC when DST is the
// peer's (a push's client, a pull's server). It streams SRC's entries as the scan lists them
// (within the destination's credit), answers the destination's hash requests from the
// cache or by reading, and sends the files the destination asks for on the data
// connections, opened when the first file is wanted. Its problems go to the destination
// at the end (they close its deletion gate), then its numbers.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "mirror/run_observer.h"
#include "mirror/scan_stream.h"
#include "mirror/tree_side.h"
#include "transfer/data_channel.h"
#include "transfer/dest_channel.h"
#include "util/problems.h"
#include "util/run_stats.h"
#include "util/transfer_meter.h"

namespace ktsync {

struct SourceHalfOptions {
  std::function<std::vector<std::unique_ptr<ByteStream>>()> open_streams;
  StreamOpener reopen;
  bool require_ktls = false;  // refuse to send with userspace TLS
  bool open_first = false;    // open the data connections before the first entry goes out
  uint64_t bwlimit = 0;
  bool skip_changing = false;  // apply/source_read.h
  int compress_level = 0;      // -z (transfer/compression.h); 0 = off
};

// `scan` lists `src` (started by the caller, so it overlaps the login). Per-entry problems
// land in `problems` (and are sent); run-ending failures throw. `stats` gets this side's
// numbers; `meter` (optional) counts what was asked for and what was sent. Warnings go to
// `observer`; those it keeps for the peer (TakeWarnings: a pull's server) are sent as notes.
void RunSourceHalf(TreeSide& src, ScanStream& scan, DestChannel& channel, const SourceHalfOptions& opts,
                   Problems& problems, RunObserver& observer, TransferMeter* meter, RunStats& stats);

}  // namespace ktsync
