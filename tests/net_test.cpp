// links: ktsync_util OpenSSL::Crypto
// The module source is compiled in directly (not via ktsync_transfer) to isolate this test
// from other src/transfer files while that library is in flux.
#include "../src/transfer/net.cpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace ktsync {
namespace {

using std::chrono::milliseconds;

void ExpectHostPort(const std::string& text, const std::string& host, uint16_t port) {
  HostPort hp = ParseHostPort(text, 7373);
  EXPECT_EQ(hp.host, host) << text;
  EXPECT_EQ(hp.port, port) << text;
}

TEST(ParseHostPort, AcceptsNamesAddressesAndBracketedIpv6) {
  ExpectHostPort("example.org", "example.org", 7373);
  ExpectHostPort("example.org:22", "example.org", 22);
  ExpectHostPort("127.0.0.1:0", "127.0.0.1", 0);
  ExpectHostPort("[::1]:7373", "::1", 7373);
  ExpectHostPort("[fe80::1%eth0]:99", "fe80::1%eth0", 99);
  ExpectHostPort("[::1]", "::1", 7373);
  ExpectHostPort("::1", "::1", 7373);
  ExpectHostPort(":65535", "", 65535);
  ExpectHostPort("", "", 7373);
}

TEST(ParseListenAddress, ABareNumberIsAPortOnEveryAddress) {
  HostPort hp = ParseListenAddress("7373", 1);
  EXPECT_EQ(hp.host, "");
  EXPECT_EQ(hp.port, 7373);
  EXPECT_EQ(ParseListenAddress("127.0.0.1:9", 1).port, 9);
  EXPECT_EQ(ParseListenAddress("backup.example", 7373).host, "backup.example");
  EXPECT_THROW(ParseListenAddress("70000", 1), Error);
}

TEST(ParseHostPort, RejectsBadPortsAndBrackets) {
  for (const char* bad : {"h:", "h:65536", "h:x1", "h:-1", "h:123456", "[::1", "[::1]x", "[::1]:"}) {
    try {
      ParseHostPort(bad, 1);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage) << bad;
    }
  }
}

TEST(FormatHostPort, BracketsIpv6) {
  EXPECT_EQ(FormatHostPort("::1", 5), "[::1]:5");
  EXPECT_EQ(FormatHostPort("h", 5), "h:5");
}

void ExpectRoundTrip(int a, int b) {
  ASSERT_EQ(::write(a, "x", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(b, &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(Net, ListensConnectsAndAcceptsOnLoopback) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  uint16_t port = LocalPort(listener.get());
  ASSERT_NE(port, 0);
  UniqueFd client = ConnectTcp("127.0.0.1", port, 2000);
  UniqueFd server = AcceptWithTimeout(listener.get(), 2000);
  ASSERT_TRUE(server.valid());
  ExpectRoundTrip(client.get(), server.get());
  ExpectRoundTrip(server.get(), client.get());
  for (int fd : {listener.get(), client.get(), server.get()})
    EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  EXPECT_FALSE(::fcntl(client.get(), F_GETFL) & O_NONBLOCK);
}

TEST(Net, WildcardListenerServesIpv4AndIpv6) {
  UniqueFd listener = Listen("", 0);
  uint16_t port = LocalPort(listener.get());
  UniqueFd v4 = ConnectTcp("127.0.0.1", port, 2000);
  EXPECT_TRUE(AcceptWithTimeout(listener.get(), 2000).valid());
  try {
    UniqueFd v6 = ConnectTcp("::1", port, 2000);
    EXPECT_TRUE(AcceptWithTimeout(listener.get(), 2000).valid());
  } catch (const Error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
}

TEST(Net, ConnectToClosedPortIsRefused) {
  uint16_t port;
  {
    UniqueFd listener = Listen("127.0.0.1", 0);
    port = LocalPort(listener.get());
  }
  try {
    ConnectTcp("127.0.0.1", port, 2000);
    FAIL() << "connected to a closed port";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::SocketIo);
    EXPECT_EQ(std::string(e.what()),
              "connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
  }
}

TEST(Net, UnknownHostNamesTheHost) {
  try {
    ConnectTcp("no-such-host.invalid", 7373, 2000);
    FAIL() << "resolved an .invalid name";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::SocketIo);
    EXPECT_EQ(std::string(e.what()).rfind("cannot resolve host 'no-such-host.invalid': ", 0), 0u)
        << e.what();
  }
}

// Linux drops SYNs once a listener's accept queue is full, so connecting hangs: a local way to
// reach the connect deadline without depending on an unroutable network address.
TEST(Net, ConnectGivesUpAtTheDeadline) {
  UniqueFd listener = Listen("127.0.0.1", 0, 0);
  uint16_t port = LocalPort(listener.get());
  std::vector<UniqueFd> queued;
  for (int i = 0; i < 8; ++i) {
    auto start = std::chrono::steady_clock::now();
    try {
      queued.push_back(ConnectTcp("127.0.0.1", port, 200));
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Timeout) << e.what();
      EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
      EXPECT_NE(std::string(e.what()).find("timed out after 200 ms"), std::string::npos);
      return;
    }
  }
  GTEST_SKIP() << "accept queue never filled; deadline path not exercised";
}

TEST(Net, AcceptTimesOutWithInvalidFd) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  auto start = std::chrono::steady_clock::now();
  UniqueFd none = AcceptWithTimeout(listener.get(), 100);
  EXPECT_FALSE(none.valid());
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(90));
}

int IntOption(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  ::getsockopt(fd, level, name, &v, &len);
  return v;
}

TEST(Net, TuningSetsNodelayAndKeepalive) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  UniqueFd client = ConnectTcp("127.0.0.1", LocalPort(listener.get()), 2000);
  TuneDataSocket(client.get());
  EXPECT_EQ(IntOption(client.get(), IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(IntOption(client.get(), SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(IntOption(client.get(), IPPROTO_TCP, TCP_KEEPIDLE), 60);
  TuneDataSocket(client.get(), 1 << 20);
  EXPECT_GE(IntOption(client.get(), SOL_SOCKET, SO_RCVBUF), 1 << 20);
}

TEST(Net, IoTimeoutMakesABlockedReadFail) {
  UniqueFd listener = Listen("127.0.0.1", 0);
  UniqueFd client = ConnectTcp("127.0.0.1", LocalPort(listener.get()), 2000);
  SetIoTimeout(client.get(), 1);
  char c;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::read(client.get(), &c, 1), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(900));
  SetIoTimeout(client.get(), 0);
  timeval tv{};
  socklen_t len = sizeof tv;
  ::getsockopt(client.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
  EXPECT_EQ(tv.tv_sec, 0);
}

TEST(SshConnection, ReturnsServerAddress) {
  EXPECT_EQ(ServerAddressFromSshConnection("10.0.0.1 51234 10.0.0.2 22"), "10.0.0.2");
  EXPECT_EQ(ServerAddressFromSshConnection("2001:db8::1 51234 2001:db8::2 22"), "2001:db8::2");
  EXPECT_EQ(ServerAddressFromSshConnection("fe80::1 5 fe80::2%eth0 22"), "fe80::2%eth0");
}

TEST(SshConnection, RejectsMissingOrMalformedValues) {
  EXPECT_EQ(ServerAddressFromSshConnection(nullptr), "");
  EXPECT_EQ(ServerAddressFromSshConnection(""), "");
  EXPECT_EQ(ServerAddressFromSshConnection("10.0.0.1 51234 10.0.0.2"), "");
  EXPECT_EQ(ServerAddressFromSshConnection("10.0.0.1 1 not-an-ip 22"), "");
  EXPECT_EQ(ServerAddressFromSshConnection("a b c d e"), "");
}

TEST(SshConnection, ReadsTheEnvironment) {
  ::setenv("SSH_CONNECTION", "192.0.2.1 4000 192.0.2.9 22", 1);
  EXPECT_EQ(ServerAddressFromSshConnection(), "192.0.2.9");
  ::unsetenv("SSH_CONNECTION");
  EXPECT_EQ(ServerAddressFromSshConnection(), "");
}

}  // namespace
}  // namespace ktsync
