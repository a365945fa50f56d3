// Parsed command line. One struct per subcommand; parsing (options.cpp) is the only place
// that knows flag spellings, so `--help`, the man page and README can be checked against it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "manifest/file_list.h"
#include "manifest/mirror_spec.h"
#include "mirror/run.h"
#include "transfer/daemon.h"

namespace ktsync {

struct OutputOptions {
  bool itemize = false;   // -i: one rsync-style line per change
  bool json = false;      // --json: JSON-lines event stream on stdout
  bool stats = false;     // --stats: summary at the end
  bool progress = false;  // --progress: live progress even when stderr is not a TTY
  bool no_progress = false;
  bool quiet = false;     // -q: errors only
  int verbose = 0;        // -v (repeatable): names of changes (out_format.h), then --stats
  std::string out_format;       // --out-format: stdout's line per change (out_format.h)
  std::string log_file;         // --log-file: appended, timestamped (log_file.h)
  std::string log_file_format = "%i %n%L";  // --log-file-format (rsync's default)
};

// A mirror is meant to be identical, so unlike rsync -a, hard links, extended attributes and
// ACLs are kept by default (rsync -aHAX).
inline MirrorSpec DefaultMirrorSpec() {
  MirrorSpec s;
  s.plan.hard_links = true;
  s.plan.xattrs = kXattrAll;
  return s;
}

struct MirrorOptions {
  std::string src;
  std::string dst;
  OutputOptions out;
  MirrorSpec spec = DefaultMirrorSpec();  // what the run does, on both ends
  std::string state_dir;        // "" = $XDG_STATE_HOME/ktsync
  // --files-from (read and sorted while parsing; file_list.h): what SRC's scan takes.
  std::shared_ptr<const FileList> file_list;
  bool numeric_ids = false;

  // Network.
  std::string ssh_command = "ssh";
  std::string remote_ktsync = "ktsync";
  std::string secret_file;
  NetworkOptions net;
};

struct ServeOptions {
  bool stdio = false;  // started by a client over ssh: control channel on stdin/stdout
  DaemonConfig daemon;  // --listen and the rest; --state-dir and --no-ktls serve --stdio too
};

// `ktsync state list|prune` (store/state_catalog.h).
struct StateOptions {
  enum class Action { List, Prune } action = Action::List;
  std::string state_dir;                   // "" = the default, as for mirror
  bool json = false;                       // list: one JSON object per database
  std::optional<int64_t> older_than_days;  // prune: not used for this many days
  bool missing = false;                    // prune: its tree is gone
  bool dry_run = false;                    // prune: say what would go, remove nothing
};

struct Command {
  // `copy` is a Mirror whose spec never deletes.
  enum class Kind { None, Mirror, Serve, State } kind = Kind::None;
  MirrorOptions mirror;
  ServeOptions serve;
  StateOptions state;
  int exit_now = -1;  // >= 0 when parsing already handled the run (--help, --version)
};

// Throws Error(ExitCode::Usage) on bad input; prints help/version itself.
Command ParseCommandLine(int argc, char** argv);

}  // namespace ktsync
