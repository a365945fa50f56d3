// The CLI boundary: the only place that catches ktsync::Error and turns it into an exit code.
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include <unistd.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "util/error.h"
#include "util/io_ring.h"

namespace {

// Interrupted runs exit 20 (as rsync). Nothing needs unwinding for safety: files are
// written unnamed or under temp names and linked or renamed only when complete and
// verified, and the next run removes any temp file left behind. Only async-signal-safe
// calls here.
constexpr char kRunInterrupted[] = "\nktsync: interrupted; nothing partial was left under a final name\n";
// A daemon's own stop is no client's interruption.
constexpr char kDaemonStopped[] = "ktsync serve: stopped by a signal; running sessions were cut off, "
                                  "nothing partial was left under a final name\n";
volatile std::sig_atomic_t g_daemon = 0;

extern "C" void OnInterrupt(int) {
  ssize_t ignored = g_daemon ? ::write(STDERR_FILENO, kDaemonStopped, sizeof kDaemonStopped - 1)
                             : ::write(STDERR_FILENO, kRunInterrupted, sizeof kRunInterrupted - 1);
  (void)ignored;
  ::_exit(static_cast<int>(ktsync::ExitCode::Signal));
}

}  // namespace

int main(int argc, char** argv) {
  // A peer or ssh going away must surface as an EPIPE error with a message, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  try {
    ktsync::Command cmd = ktsync::ParseCommandLine(argc, argv);
    if (cmd.exit_now >= 0) return cmd.exit_now;
    ktsync::ChosenIoBackend();  // a bad KTSYNC_IO is a usage error now, not in a worker thread
    if (cmd.kind == ktsync::Command::Kind::Mirror) return ktsync::RunMirrorCommand(cmd.mirror);
    if (cmd.kind == ktsync::Command::Kind::State) return ktsync::RunStateCommand(cmd.state);
    if (cmd.kind == ktsync::Command::Kind::Serve) {
      g_daemon = !cmd.serve.stdio;
      return ktsync::RunServeCommand(cmd.serve);
    }
    return static_cast<int>(ktsync::ExitCode::Usage);
  } catch (const ktsync::Error& e) {
    std::cerr << "ktsync: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::bad_alloc&) {
    std::cerr << "ktsync: out of memory\n";
    return static_cast<int>(ktsync::ExitCode::FileIo);
  } catch (const std::exception& e) {
    std::cerr << "ktsync: internal error: " << e.what() << " (please report this)\n";
    return static_cast<int>(ktsync::ExitCode::FileIo);
  }
}
