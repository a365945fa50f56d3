// links: ktsync_cli
#include "cli/endpoint.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace ktsync {
namespace {

TEST(Endpoint, PlainPathsAreLocal) {
  EXPECT_EQ(ParseEndpoint("/data").kind, Endpoint::Kind::Local);
  EXPECT_EQ(ParseEndpoint("rel/dir").kind, Endpoint::Kind::Local);
  EXPECT_EQ(ParseEndpoint("./a:b").kind, Endpoint::Kind::Local);  // ':' after a '/'
}

TEST(Endpoint, SshRemoteWithAndWithoutUser) {
  Endpoint e = ParseEndpoint("alice@nas:/srv/backup");
  EXPECT_EQ(e.kind, Endpoint::Kind::Ssh);
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.host, "nas");
  EXPECT_EQ(e.path, "/srv/backup");
  EXPECT_EQ(ParseEndpoint("nas:/x").user, "");
}

TEST(Endpoint, DaemonUrlWithDefaultAndExplicitPort) {
  Endpoint e = ParseEndpoint("ktsync://gpu1/imagenet");
  EXPECT_EQ(e.kind, Endpoint::Kind::Daemon);
  EXPECT_EQ(e.port, kDefaultDaemonPort);
  EXPECT_EQ(e.path, "/imagenet");
  Endpoint v6 = ParseEndpoint("ktsync://[::1]:9000/a");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9000);
}

TEST(Endpoint, RejectsDangerousOrAmbiguousInput) {
  for (const char* bad : {"-oProxyCommand=x:/p", "host:relative", "user@:/p", "-l@h:/p", "ktsync://h:0/p",
                          "ktsync://h:99999/p", "ktsync://-h/p", ""}) {
    EXPECT_THROW(ParseEndpoint(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace ktsync
