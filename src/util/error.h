// Error handling, chosen once for the whole project:
//
// * A failure that ends the run (bad usage, unreachable peer, protocol violation, refused
//   safety check) is thrown as ktsync::Error carrying its exit code. Only the CLI boundary
//   (src/cli/main.cpp) catches it, prints "ktsync: <message>" and exits with code().
// * A failure that affects one entry (unreadable file, disk full, hash mismatch) is not
//   thrown: it is recorded in a Problems list (src/util/problems.h) and the run goes on; the
//   final exit code is derived from it (23 partial transfer, 24 vanished).
// * Thin syscall wrappers throw SysError (an Error with errno and the path it concerns) so
//   a message always names the thing and the cause.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>

namespace ktsync {

// Exit codes. rsync's numbers are reused where the meaning matches (man/ktsync.1 has the table).
enum class ExitCode : int {
  Ok = 0,
  Usage = 1,              // syntax or usage error
  Protocol = 2,           // protocol incompatibility (version negotiation failed)
  SelectFiles = 3,        // errors selecting input/output files or dirs
  StartProtocol = 5,      // error starting the client-server protocol (remote ktsync missing...)
  SocketIo = 10,          // error in socket I/O (connect refused, peer closed)
  FileIo = 11,            // error in file I/O that stops the run
  StreamData = 12,        // malformed or hostile data from the peer
  Ipc = 14,               // error in IPC (ssh could not be started)
  Signal = 20,            // SIGINT/SIGTERM
  Partial = 23,           // some entries failed; others were mirrored
  Vanished = 24,          // some source files vanished or changed while being sent
  MaxDelete = 25,         // --max-delete, --max-delete-percent or the first-mirror guard stopped deletions
  // Internal, never a run's result: the side holding DST asks the client to compare the trees
  // (a dry run) before a first mirror into a non-empty DST changes anything (mirror/guards.h).
  CompareFirst = 26,
  Timeout = 30,           // timeout in data send/receive
  AuthFailed = 40,        // daemon secret mismatch or handshake refused
  KtlsUnavailable = 41,   // --require-ktls and kernel TLS could not be enabled
  UnsafeSource = 42,      // SRC empty or missing while DST is not: refused before any change
  Locked = 43,            // another ktsync run holds DST
  Ssh = 255,              // the ssh client failed (as rsync reports it)
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// "<what>: <strerror(err)>", e.g. "open /backup/x: Permission denied".
std::string ErrnoMessage(const std::string& what, int err);

class SysError : public Error {
 public:
  SysError(const std::string& what, int err, ExitCode code = ExitCode::FileIo)
      : Error(code, ErrnoMessage(what, err)), errno_(err) {}
  int err() const { return errno_; }

 private:
  int errno_;
};

}  // namespace ktsync
