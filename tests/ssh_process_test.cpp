// links: ktsync_util OpenSSL::Crypto
// The module source is compiled in directly (not via ktsync_transfer) to isolate this test
// from other src/transfer files while that library is in flux.
#include "../src/transfer/ssh_process.cpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace ktsync {
namespace {

using Words = std::vector<std::string>;

TEST(SplitCommand, SplitsOnWhitespace) {
  EXPECT_EQ(SplitCommand("ssh -p 2222  -i\tkey"), (Words{"ssh", "-p", "2222", "-i", "key"}));
}

TEST(SplitCommand, KeepsSingleQuotedTextLiteral) {
  EXPECT_EQ(SplitCommand("ssh -i 'my key' -o 'A=\"b\" \\x'"),
            (Words{"ssh", "-i", "my key", "-o", "A=\"b\" \\x"}));
}

TEST(SplitCommand, DoubleQuotesEscapeOnlyShellSpecials) {
  EXPECT_EQ(SplitCommand(R"(ssh "a \"b\" \$c \\ \n")"), (Words{"ssh", R"(a "b" $c \ \n)"}));
}

TEST(SplitCommand, BackslashEscapesOutsideQuotes) {
  EXPECT_EQ(SplitCommand(R"(ssh my\ key \'x)"), (Words{"ssh", "my key", "'x"}));
}

TEST(SplitCommand, JoinsAdjacentQuotedPartsAndKeepsEmptyWords) {
  EXPECT_EQ(SplitCommand("ssh a'b c'\"d\" ''"), (Words{"ssh", "ab cd", ""}));
}

TEST(SplitCommand, BackslashNewlineIsContinuation) {
  EXPECT_EQ(SplitCommand("ssh \\\n -v"), (Words{"ssh", "-v"}));
}

TEST(SplitCommand, DoesNotExpandAnything) {
  EXPECT_EQ(SplitCommand("ssh $HOME ~ * ;rm"), (Words{"ssh", "$HOME", "~", "*", ";rm"}));
}

TEST(SplitCommand, RejectsUnterminatedQuotesAndEmpty) {
  for (const char* bad : {"ssh 'x", "ssh \"x", "ssh x\\", "", "   ", "\t\n"}) {
    try {
      SplitCommand(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << bad;
    }
  }
}

TEST(ShellQuoteWord, LeavesPlainWordsAndQuotesTheRest) {
  EXPECT_EQ(ShellQuoteWord("/usr/local/bin/ktsync"), "/usr/local/bin/ktsync");
  EXPECT_EQ(ShellQuoteWord("/opt/my tools/ktsync"), "'/opt/my tools/ktsync'");
  EXPECT_EQ(ShellQuoteWord("/a/it's"), "'/a/it'\\''s'");
  EXPECT_EQ(ShellQuoteWord("$(reboot)"), "'$(reboot)'");
  EXPECT_EQ(ShellQuoteWord(""), "''");
}

TEST(ShellQuoteWord, KeepsLeadingTildeExpandable) {
  EXPECT_EQ(ShellQuoteWord("~/bin/ktsync"), "~/bin/ktsync");
  EXPECT_EQ(ShellQuoteWord("~/my bin/ktsync"), "~/'my bin/ktsync'");
  EXPECT_EQ(ShellQuoteWord("~root/x y"), "'~root/x y'");
}

TEST(ShellQuoteWord, RoundTripsThroughARealShell) {
  const std::string word = "/tmp/a b/'q'\"d\" $x `y` \\z";
  std::string cmd = "printf %s " + ShellQuoteWord(word);
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[256] = {};
  size_t n = ::fread(buf, 1, sizeof buf - 1, p);
  ::pclose(p);
  EXPECT_EQ(std::string(buf, n), word);
}

TEST(BuildSshArgv, AppendsUserHostAndFixedRemoteCommand) {
  EXPECT_EQ(BuildSshArgv("ssh -p 2222", "alice", "example.org", "\"/opt/k tsync/it's\""),
            (Words{"ssh", "-p", "2222", "-l", "alice", "example.org", "'/opt/k tsync/it'\\''s'",
                   "serve", "--stdio"}));
}

// --remote-ktsync is a command, as rsync's --rsync-path: each word reaches the remote shell
// quoted, so it runs that command and nothing else.
TEST(BuildSshArgv, RemoteKtsyncIsACommandOfQuotedWords) {
  EXPECT_EQ(BuildSshArgv("ssh", "", "h", "sudo -n ktsync"), (Words{"ssh", "h", "sudo", "-n", "ktsync", "serve", "--stdio"}));
  EXPECT_EQ(BuildSshArgv("ssh", "", "h", "nice -n 19 '/opt/my tools/ktsync'"),
            (Words{"ssh", "h", "nice", "-n", "19", "'/opt/my tools/ktsync'", "serve", "--stdio"}));
  EXPECT_EQ(BuildSshArgv("ssh", "", "h", "ktsync;rm"), (Words{"ssh", "h", "'ktsync;rm'", "serve", "--stdio"}));
  EXPECT_THROW(BuildSshArgv("ssh", "", "h", "'unterminated"), Error);
}

TEST(BuildSshArgv, OmitsLoginOptionWithoutUser) {
  EXPECT_EQ(BuildSshArgv("ssh", "", "h", "ktsync"), (Words{"ssh", "h", "ktsync", "serve", "--stdio"}));
}

TEST(BuildSshArgv, RejectsOptionLikeHostOrUser) {
  EXPECT_THROW(BuildSshArgv("ssh", "", "-oProxyCommand=sh", "ktsync"), Error);
  EXPECT_THROW(BuildSshArgv("ssh", "-x", "host", "ktsync"), Error);
  EXPECT_THROW(BuildSshArgv("ssh", "", "", "ktsync"), Error);
  EXPECT_THROW(BuildSshArgv("ssh", "", "host", ""), Error);
}

TEST(SshProcess, PipesDataThroughTheChild) {
  SshProcess p;
  p.Spawn({"cat"});
  const std::string msg = "hello over pipes\n";
  ASSERT_EQ(::write(p.to_remote().get(), msg.data(), msg.size()), static_cast<ssize_t>(msg.size()));
  p.to_remote().reset();
  std::string got;
  char buf[64];
  ssize_t n;
  while ((n = ::read(p.from_remote().get(), buf, sizeof buf)) > 0) got.append(buf, n);
  EXPECT_EQ(got, msg);
  EXPECT_EQ(p.Wait(), 0);
  EXPECT_EQ(p.Wait(), 0);
}

TEST(SshProcess, ParentEndsAreCloseOnExec) {
  SshProcess p;
  p.Spawn({"/bin/cat"});
  EXPECT_TRUE(::fcntl(p.to_remote().get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.from_remote().get(), F_GETFD) & FD_CLOEXEC);
}

TEST(SshProcess, ReportsExitCodeAndSignal) {
  SshProcess a;
  a.Spawn({"sh", "-c", "exit 7"});
  EXPECT_EQ(a.Wait(), 7);
  SshProcess b;
  b.Spawn({"sleep", "30"});
  b.Kill();
  EXPECT_EQ(b.Wait(), 128 + SIGTERM);
}

TEST(SshProcess, MissingProgramThrowsIpcWithTheName) {
  SshProcess p;
  try {
    p.Spawn({"/nonexistent/ktsync-no-ssh", "x"});
    FAIL() << "spawned a missing program";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::Ipc);
    EXPECT_STREQ(e.what(), "cannot run '/nonexistent/ktsync-no-ssh': No such file or directory");
  }
  EXPECT_EQ(p.Wait(), 127);
}

TEST(SshProcess, DestructorReapsAChildThatIgnoresEof) {
  pid_t pid;
  auto start = std::chrono::steady_clock::now();
  {
    SshProcess p;
    p.Spawn({"sleep", "30"});
    pid = p.pid();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);  // already reaped: no zombie left
}

TEST(DescribeSshExit, MapsStatusesToMessagesAndCodes) {
  ExitCode code;
  EXPECT_EQ(DescribeSshExit(0, "h", "ktsync", &code), "");
  EXPECT_EQ(code, ExitCode::Ok);
  EXPECT_EQ(DescribeSshExit(255, "h", "ktsync", &code),
            "ssh to h failed (exit 255); check the host name, your ssh keys and ~/.ssh/config");
  EXPECT_EQ(code, ExitCode::Ssh);
  EXPECT_EQ(DescribeSshExit(127, "h", "/x/ktsync", &code),
            "remote ktsync not found on h (tried '/x/ktsync'): install ktsync there or pass "
            "--remote-ktsync PATH");
  EXPECT_EQ(code, ExitCode::StartProtocol);
  EXPECT_NE(DescribeSshExit(126, "h", "/x/ktsync", &code).find("not executable"),
            std::string::npos);
  EXPECT_EQ(code, ExitCode::StartProtocol);
  EXPECT_EQ(DescribeSshExit(3, "h", "ktsync", &code), "remote ktsync on h exited with status 3");
  EXPECT_EQ(code, ExitCode::StartProtocol);
  EXPECT_NE(DescribeSshExit(137, "h", "ktsync", &code).find("(signal 9"), std::string::npos);
}

}  // namespace
}  // namespace ktsync
