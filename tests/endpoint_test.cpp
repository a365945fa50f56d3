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

// As rsync: relative to the remote login's home, "host:" being the home itself; "~" is
// resolved on the remote side (remote_path.h).
TEST(Endpoint, SshRemotePathsMayBeRelativeToTheRemoteHome) {
  EXPECT_EQ(ParseEndpoint("nas:backup/x").path, "backup/x");
  EXPECT_EQ(ParseEndpoint("nas:~/x").path, "~/x");
  EXPECT_EQ(ParseEndpoint("nas:~bob/x").path, "~bob/x");
  EXPECT_EQ(ParseEndpoint("nas:").path, ".");
}

TEST(Endpoint, SshRemoteAtAnIpv6Address) {
  Endpoint e = ParseEndpoint("alice@[::1]:/srv");
  EXPECT_EQ(e.kind, Endpoint::Kind::Ssh);
  EXPECT_EQ(e.user, "alice");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.path, "/srv");
  EXPECT_EQ(e.Display(), "alice@[::1]:/srv");
  Endpoint bare = ParseEndpoint("[fe80::1%eth0]:rel");
  EXPECT_EQ(bare.host, "fe80::1%eth0");
  EXPECT_EQ(bare.user, "");
  EXPECT_EQ(bare.path, "rel");
}

TEST(Endpoint, OtherUrlsAreRefusedWithWhatToWriteInstead) {
  auto message = [](const char* arg) {
    try {
      ParseEndpoint(arg);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("rsync://nas/module/x").find("rsync's daemon"), std::string::npos);
  EXPECT_NE(message("rsync://nas/module/x").find("ktsync://host/path"), std::string::npos);
  EXPECT_NE(message("ssh://nas/x").find("unknown scheme ssh://"), std::string::npos);
  EXPECT_EQ(ParseEndpoint("./x://y").kind, Endpoint::Kind::Local);  // not a scheme: a '/' comes first
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
  for (const char* bad : {"-oProxyCommand=x:/p", "user@:/p", "-l@h:/p", "ktsync://h:0/p", "ktsync://h:99999/p",
                          "ktsync://-h/p", "", "[::1/p", "[::1]/p", "@[::1]:/p", "[-x]:/p"}) {
    EXPECT_THROW(ParseEndpoint(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace ktsync
