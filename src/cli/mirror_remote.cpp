#include "cli/commands.h"
#include "cli/mirror_run.h"
#include "util/error.h"

namespace ktsync {

int RunRemoteMirror(const MirrorOptions&, Reporter&) {
  throw Error(ExitCode::Usage, "remote mirroring is not built yet");
}

int RunServeCommand(const ServeOptions&) { throw Error(ExitCode::Usage, "serve is not built yet"); }

}  // namespace ktsync
