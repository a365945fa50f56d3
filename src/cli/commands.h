// Entry points of the subcommands. Each returns the process exit code; run-ending failures
// are thrown as ktsync::Error and mapped by main().
#pragma once

#include "cli/options.h"

namespace ktsync {

int RunMirrorCommand(const MirrorOptions& opts);  // local or remote, chosen by the endpoints
int RunServeCommand(const ServeOptions& opts);    // `ktsync serve --stdio` or a daemon
int RunStateCommand(const StateOptions& opts);    // `ktsync state list|prune` (state_command.cpp)

}  // namespace ktsync
