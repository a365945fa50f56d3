// What one mirror run did, filled by whichever side did it (local run, or client and
// remote peer over the wire) and printed once by the CLI.
#pragma once

#include <cstdint>
#include <string>

namespace ktsync {

struct RunStats {
  uint64_t src_entries = 0;
  uint64_t dst_entries = 0;
  uint64_t src_file_bytes = 0;
  uint64_t hashed_src = 0;       // files whose content was read to hash (cache misses)
  uint64_t hashed_dst = 0;
  uint64_t cache_hits_src = 0;   // hashes served from the SQLite store
  uint64_t cache_hits_dst = 0;
  uint64_t files_sent = 0;       // whole files written to DST
  uint64_t bytes_sent = 0;       // their content bytes
  uint64_t wire_bytes = 0;       // bytes on the data connections (0 for local)
  uint64_t files_discarded = 0;  // received as "discarded": the source must report each one
  uint64_t deleted = 0;
  uint64_t meta_fixed = 0;
  uint64_t created_other = 0;
  bool deletes_skipped = false;  // deletions were not performed: errors, or a limit
  std::string deletes_refused;   // the --max-delete limit that stopped them ("" = none did)

  // Per direction of the data channel: how encryption ran and why.
  std::string encryption_send;   // e.g. "kernel TLS" or "userspace TLS (kernel TLS unavailable: ...)"
  std::string encryption_recv;
  int streams = 0;
  // Remote runs: how the data travelled ("direct", "ssh" or "daemon") and why; "" when local
  // or a dry run.
  std::string data_path;
  std::string data_path_why;
  int compress_level = 0;  // -z: zstd level of the file data (0 = not compressed)

  // Phases overlap (data moves while the trees are listed), and count from the start of
  // the run (RunObserver's clock): scan_s is the time until both trees were listed and
  // compared, hash_s the part of it spent waiting for content hashes, plan_s the time until
  // the plan was complete, transfer_s from then until the last file was done, finish_s the
  // deletions, directory times and caches after that.
  double scan_s = 0, hash_s = 0, plan_s = 0, transfer_s = 0, finish_s = 0, total_s = 0;
};

}  // namespace ktsync
