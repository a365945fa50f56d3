#include "cli/commands.h"

#include "cli/endpoint.h"
#include "cli/mirror_run.h"
#include "util/error.h"

namespace ktsync {

int RunMirrorCommand(const MirrorOptions& opts) {
  Reporter rep(opts.out, opts.dry_run);
  try {
    Endpoint src = ParseEndpoint(opts.src);
    Endpoint dst = ParseEndpoint(opts.dst);
    if (src.remote() && dst.remote())
      throw Error(ExitCode::Usage, "SRC and DST are both remote; one side must be local (run ktsync on one of the hosts)");
    if (!src.remote() && !dst.remote()) return RunLocalMirror(opts, rep);
    return RunRemoteMirror(opts, rep);
  } catch (const Error& e) {
    rep.Error(e.what(), static_cast<int>(e.code()));
    return static_cast<int>(e.code());
  }
}

}  // namespace ktsync
