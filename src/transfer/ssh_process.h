// Starting the remote end over ssh, the way rsync does: `ssh [opts] [-l user] host
// <remote-ktsync> serve --stdio`, with ktsync speaking its protocol over ssh's stdin/stdout.
//
// Contract:
// * No local shell is ever run. The --ssh string is split into argv by SplitCommand (simple
//   POSIX-like quoting only: no expansion, no globbing, no operators).
// * The remote login shell DOES see the remote command. --remote-ktsync is a command, as
//   rsync's --rsync-path ("sudo -n ktsync", "nice -n 19 /opt/bin/ktsync"): split by
//   SplitCommand like --ssh, each word shell-quoted by BuildSshArgv, so a path with spaces
//   is given quoted ("'/opt/my tools/ktsync'"); the remaining words are fixed constants.
// * SshProcess owns the child and both pipe ends; stderr is inherited so ssh's own prompts
//   and messages reach the user. Spawn throws Error(ExitCode::Ipc) when the program cannot be
//   executed at all, so a missing local ssh is never mistaken for a missing remote ktsync.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "util/error.h"
#include "util/unique_fd.h"

namespace ktsync {

// Splits "ssh -p 2222 -i 'my key'" into words. Supports '...', "..." (backslash escapes only
// \ " $ ` and newline inside), and backslash outside quotes. Throws Error(Usage) on an
// unterminated quote, a trailing backslash, or when no word results.
std::vector<std::string> SplitCommand(const std::string& cmd);

// Quotes one word for a POSIX shell (the remote login shell). Plain words stay as they are;
// a leading "~/" stays unquoted so the remote shell still expands it to $HOME.
std::string ShellQuoteWord(const std::string& word);

// ssh argv + ["-l", user] + host + the words of remote_ktsync, each ShellQuoteWord'ed +
// "serve" + "--stdio".
// Throws Error(Usage) for an empty host or remote_ktsync, or a host/user starting with '-'
// (it would be parsed as an ssh option: "-oProxyCommand=..." runs arbitrary commands).
std::vector<std::string> BuildSshArgv(const std::string& ssh_command, const std::string& user,
                                      const std::string& host, const std::string& remote_ktsync);

class SshProcess {
 public:
  SshProcess() = default;
  SshProcess(const SshProcess&) = delete;
  SshProcess& operator=(const SshProcess&) = delete;
  // Closes the pipes, then reaps the child, killing it if it is still running after a grace.
  ~SshProcess();

  // Runs argv[0] (searched in PATH) with stdin/stdout connected to pipes. Throws
  // Error(ExitCode::Ipc, "cannot run '<argv0>': <errno text>") if it cannot be executed.
  void Spawn(const std::vector<std::string>& argv);

  UniqueFd& to_remote() { return to_remote_; }      // write end: the child's stdin
  UniqueFd& from_remote() { return from_remote_; }  // read end: the child's stdout
  pid_t pid() const { return pid_; }

  // Blocks until the child exits; returns its exit code, or 128+signal if killed.
  // Later calls return the same value.
  int Wait();
  // Sends SIGTERM if the child has not been reaped yet.
  void Kill();

 private:
  UniqueFd to_remote_;
  UniqueFd from_remote_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
};

// Turns the ssh exit status into the user-facing message and exit code (empty message and
// ExitCode::Ok for 0). 255 is ssh's own failure; 127/126 are the remote shell's "not
// found"/"not executable"; anything else is the remote ktsync's own exit status.
std::string DescribeSshExit(int status, const std::string& host, const std::string& remote_ktsync,
                            ExitCode* code);

}  // namespace ktsync
