// links: ktsync_transfer
// A daemon's modules: the config file's format, module lookup by PSK identity, and paths
// inside a module. Pure: no files, no sockets.
#include "transfer/serve_config.h"

#include <gtest/gtest.h>

#include "stream_pair.h"

namespace ktsync {
namespace {

const char* kTwo = R"(# two trees
[photos]
path = /srv/photos
secret file = /etc/ktsync/photos.secret
allow owners = yes

  [backup]   
path=/srv/backup
secret file = /etc/ktsync/backup.secret
access = write-only
allow devices = true
allow setid = no
max sessions = 2
)";

TEST(ServeConfig, ParsesModulesWithDefaultsAndEverySetting) {
  std::vector<Module> m = ParseServeConfig(kTwo, "serve.conf");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].name, "photos");
  EXPECT_EQ(m[0].root, "/srv/photos");
  EXPECT_EQ(m[0].secret_file, "/etc/ktsync/photos.secret");
  EXPECT_FALSE(m[0].read_only || m[0].write_only);
  EXPECT_TRUE(m[0].limits.owners);
  EXPECT_FALSE(m[0].limits.devices || m[0].limits.setid) << "nothing privileged unless allowed";
  EXPECT_EQ(m[0].max_sessions, 0);
  EXPECT_EQ(m[1].name, "backup");
  EXPECT_TRUE(m[1].write_only);
  EXPECT_TRUE(m[1].limits.devices);
  EXPECT_FALSE(m[1].limits.setid);
  EXPECT_EQ(m[1].max_sessions, 2);
}

TEST(ServeConfig, MistakesNameTheFileTheLineAndTheFix) {
  auto fails = [](const std::string& text, const std::string& needle) {
    ExpectError(ExitCode::Usage, needle, [&] { ParseServeConfig(text, "s.conf"); });
  };
  fails("", "s.conf: no [module] sections");
  fails("path = /x\n", "s.conf:1: a setting before the first [module]");
  fails("[a]\npath = /x\nsecret file = /s\ncolour = blue\n", "s.conf:4: unknown setting 'colour'");
  fails("[a]\nsecret file = /s\n", "s.conf:1: module [a] has no path");
  fails("[a]\npath = /x\n[b]\n", "s.conf:1: module [a] has no secret file");
  fails("[a]\npath = x\n", "s.conf:2: path must be absolute");
  fails("[a b]\n", "s.conf:1: module name 'a b'");
  fails("[a]\npath = /x\nsecret file = /s\n[a]\n", "s.conf:4: module [a] is defined twice");
  fails("[a]\naccess = everything\n", "access is read-write, read-only or write-only");
  fails("[a]\nallow devices = maybe\n", "expected yes or no, not 'maybe'");
  fails("[a]\nmax sessions = -1\n", "max sessions is a number");
  fails("[a]\njust words\n", "s.conf:2: expected [module] or key = value");
}

TEST(ServeConfig, ClientsNameTheModuleByTheFirstPathComponent) {
  EXPECT_EQ(DaemonIdentityFor("/photos/2024"), "ktsync/photos");
  EXPECT_EQ(DaemonIdentityFor("photos"), "ktsync/photos");
  EXPECT_EQ(DaemonIdentityFor("/"), "ktsync");
  EXPECT_EQ(DaemonIdentityFor(""), "ktsync");
}

TEST(ServeConfig, IdentitiesFindTheirModule) {
  std::vector<Module> m = ParseServeConfig(kTwo, "serve.conf");
  EXPECT_EQ(ModuleFor(m, "ktsync/backup"), &m[1]);
  EXPECT_EQ(ModuleFor(m, "ktsync/photos"), &m[0]);
  EXPECT_EQ(ModuleFor(m, "ktsync/nope"), nullptr);
  EXPECT_EQ(ModuleFor(m, "ktsync"), nullptr) << "a config daemon has no unnamed tree";
  EXPECT_EQ(ModuleFor(m, "ktsync/photos/x"), nullptr);

  std::vector<Module> root{Module{"", "/srv", "/s", false, false, {}, 0}};
  EXPECT_EQ(ModuleFor(root, "ktsync"), &root[0]);
  EXPECT_EQ(ModuleFor(root, "ktsync/anything"), &root[0]) << "the --root form takes every path";
  EXPECT_EQ(ModuleFor(root, "rsync"), nullptr);
}

TEST(ServeConfig, RequestPathsAreConfinedToTheirModule) {
  EXPECT_EQ(PathInModule("photos", "/photos/2024/"), "2024");
  EXPECT_EQ(PathInModule("photos", "photos"), "");
  EXPECT_EQ(PathInModule("photos", "/backup/x"), std::nullopt);
  EXPECT_EQ(PathInModule("photos", "photosx/y"), std::nullopt);
  EXPECT_EQ(PathInModule("", "/a/b/"), "a/b");
}

}  // namespace
}  // namespace ktsync
