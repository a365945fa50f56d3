#include "transfer/ssh_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace ktsync {

namespace {

// One left-to-right pass over the --ssh string; `pos` always points at the next unread char.
class CommandSplitter {
 public:
  explicit CommandSplitter(const std::string& cmd) : cmd_(cmd) {}

  std::vector<std::string> Run() {
    while (pos_ < cmd_.size()) Step();
    EndWord();
    if (words_.empty()) Fail("no program given");
    return std::move(words_);
  }

 private:
  void Step() {
    char c = cmd_[pos_];
    if (c == ' ' || c == '\t' || c == '\n') {
      EndWord();
      ++pos_;
    } else if (c == '\\' && pos_ + 1 < cmd_.size() && cmd_[pos_ + 1] == '\n') {
      pos_ += 2;  // line continuation: joins, does not start a word
    } else {
      in_word_ = true;
      if (c == '\'') {
        SingleQuoted();
      } else if (c == '"') {
        DoubleQuoted();
      } else if (c == '\\') {
        if (pos_ + 1 >= cmd_.size()) Fail("trailing backslash");
        word_ += cmd_[pos_ + 1];
        pos_ += 2;
      } else {
        word_ += c;
        ++pos_;
      }
    }
  }

  void SingleQuoted() {
    size_t end = cmd_.find('\'', pos_ + 1);
    if (end == std::string::npos) Fail("unterminated single quote");
    word_.append(cmd_, pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
  }

  void DoubleQuoted() {
    for (++pos_; pos_ < cmd_.size(); ++pos_) {
      char c = cmd_[pos_];
      if (c == '"') {
        ++pos_;
        return;
      }
      if (c == '\\' && pos_ + 1 < cmd_.size() && std::strchr("\\\"$`\n", cmd_[pos_ + 1])) {
        if (cmd_[++pos_] != '\n') word_ += cmd_[pos_];
        continue;
      }
      word_ += c;
    }
    Fail("unterminated double quote");
  }

  void EndWord() {
    if (in_word_) words_.push_back(std::move(word_));
    word_.clear();
    in_word_ = false;
  }

  [[noreturn]] void Fail(const std::string& why) const {
    throw Error(ExitCode::Usage, "cannot parse ssh command '" + cmd_ + "': " + why);
  }

  const std::string& cmd_;
  size_t pos_ = 0;
  std::vector<std::string> words_;
  std::string word_;
  bool in_word_ = false;
};

bool IsPlainShellWord(const std::string& w) {
  if (w.empty()) return false;
  for (char c : w) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::strchr("_./:@%+=,-", c) != nullptr;
    if (!ok) return false;
  }
  return true;
}

void RejectOptionLike(const std::string& what, const std::string& value) {
  if (!value.empty() && value[0] == '-')
    throw Error(ExitCode::Usage, "invalid " + what + " '" + value +
                                     "': must not start with '-' (it would be read as an ssh option)");
}

// The child dup2()s pipe ends onto fds 0 and 1; keeping them above 2 means one dup2 can never
// overwrite the other end before it is duplicated.
UniqueFd AboveStdio(UniqueFd fd) {
  if (fd.get() > 2) return fd;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) throw SysError("fcntl F_DUPFD_CLOEXEC", errno, ExitCode::Ipc);
  return UniqueFd(moved);
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Pipe MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", errno, ExitCode::Ipc);
  Pipe p{UniqueFd(fds[0]), UniqueFd(fds[1])};
  p.read = AboveStdio(std::move(p.read));
  p.write = AboveStdio(std::move(p.write));
  return p;
}

// Runs in the forked child of a possibly multi-threaded parent: only async-signal-safe calls.
// On failure the errno goes back through the close-on-exec error pipe.
[[noreturn]] void ExecChild(char* const* argv, int stdin_fd, int stdout_fd, int err_fd) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // ktsync ignores SIGPIPE; an ignored disposition survives exec and ssh expects the default.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, nullptr);
  if (::dup2(stdin_fd, 0) >= 0 && ::dup2(stdout_fd, 1) >= 0) ::execvp(argv[0], argv);
  int err = errno;
  ssize_t ignored = ::write(err_fd, &err, sizeof err);
  (void)ignored;
  ::_exit(127);
}

int DecodeWaitStatus(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

// Reads the exec error pipe: 0 when exec succeeded (the pipe closed on exec), else errno.
int ReadExecError(int fd) {
  int err = 0;
  ssize_t n;
  do {
    n = ::read(fd, &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof err) ? err : 0;
}

// True once the child is gone (reaped here, or no longer ours to reap).
bool ReapWithin(pid_t pid, int ms) {
  for (int waited = 0;; waited += 10) {
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) return true;
    if (waited >= ms) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

std::vector<std::string> SplitCommand(const std::string& cmd) {
  return CommandSplitter(cmd).Run();
}

std::string ShellQuoteWord(const std::string& word) {
  if (word.rfind("~/", 0) == 0 && word.size() > 2) return "~/" + ShellQuoteWord(word.substr(2));
  if (IsPlainShellWord(word)) return word;
  std::string out = "'";
  for (char c : word) {
    if (c == '\'')
      out += "'\\''";  // close, escaped quote, reopen: the only way to put ' in a '...' word
    else
      out += c;
  }
  return out + "'";
}

std::vector<std::string> BuildSshArgv(const std::string& ssh_command, const std::string& user,
                                      const std::string& host, const std::string& remote_ktsync) {
  if (host.empty()) throw Error(ExitCode::Usage, "empty remote host name");
  if (remote_ktsync.empty()) throw Error(ExitCode::Usage, "empty --remote-ktsync path");
  RejectOptionLike("host name", host);
  RejectOptionLike("user name", user);
  std::vector<std::string> argv = SplitCommand(ssh_command);
  if (!user.empty()) {
    argv.push_back("-l");
    argv.push_back(user);
  }
  argv.push_back(host);
  for (const std::string& word : SplitCommand(remote_ktsync)) argv.push_back(ShellQuoteWord(word));
  argv.push_back("serve");
  argv.push_back("--stdio");
  return argv;
}

SshProcess::~SshProcess() {
  to_remote_.reset();
  from_remote_.reset();
  if (pid_ <= 0 || reaped_) return;
  // With its pipes closed ssh normally exits at once; the grace only bounds a wedged child.
  if (ReapWithin(pid_, 1000)) return;
  ::kill(pid_, SIGTERM);
  if (ReapWithin(pid_, 1000)) return;
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
}

void SshProcess::Spawn(const std::vector<std::string>& argv) {
  if (pid_ > 0) throw Error(ExitCode::Ipc, "internal: SshProcess::Spawn called twice");
  if (argv.empty()) throw Error(ExitCode::Usage, "empty ssh command");
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  Pipe to_child = MakePipe();
  Pipe from_child = MakePipe();
  Pipe exec_err = MakePipe();
  pid_t pid = ::fork();
  if (pid < 0) throw SysError("fork for '" + argv[0] + "'", errno, ExitCode::Ipc);
  if (pid == 0) ExecChild(cargv.data(), to_child.read.get(), from_child.write.get(),
                          exec_err.write.get());

  pid_ = pid;
  to_child.read.reset();
  from_child.write.reset();
  exec_err.write.reset();
  int err = ReadExecError(exec_err.read.get());
  if (err != 0) {
    Wait();
    throw Error(ExitCode::Ipc, ErrnoMessage("cannot run '" + argv[0] + "'", err));
  }
  to_remote_ = std::move(to_child.write);
  from_remote_ = std::move(from_child.read);
}

int SshProcess::Wait() {
  if (reaped_) return status_;
  if (pid_ <= 0) throw Error(ExitCode::Ipc, "internal: SshProcess::Wait without a child");
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0) {
    if (errno != EINTR) throw SysError("waitpid for ssh", errno, ExitCode::Ipc);
  }
  reaped_ = true;
  status_ = DecodeWaitStatus(st);
  return status_;
}

void SshProcess::Kill() {
  if (pid_ > 0 && !reaped_) ::kill(pid_, SIGTERM);
}

std::string DescribeSshExit(int status, const std::string& host, const std::string& remote_ktsync,
                            ExitCode* code) {
  if (status == 0) {
    *code = ExitCode::Ok;
    return "";
  }
  if (status == 255) {
    *code = ExitCode::Ssh;
    return "ssh to " + host +
           " failed (exit 255); check the host name, your ssh keys and ~/.ssh/config";
  }
  *code = ExitCode::StartProtocol;
  if (status == 127)
    return "remote ktsync not found on " + host + " (tried '" + remote_ktsync +
           "'): install ktsync there or pass --remote-ktsync PATH";
  if (status == 126)
    return "remote ktsync '" + remote_ktsync + "' on " + host +
           " is not executable: check its permissions or pass --remote-ktsync PATH";
  std::string msg = "remote ktsync on " + host + " exited with status " + std::to_string(status);
  if (status > 128 && status < 128 + 65) {
    const char* name = ::strsignal(status - 128);
    msg += " (signal " + std::to_string(status - 128) + (name ? std::string(": ") + name : "") + ")";
  }
  return msg;
}

}  // namespace ktsync
