// Remote paths resolved as rsync users expect (mirror/remote_path.h).
#include "mirror/remote_path.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace ktsync {
namespace {

std::optional<std::string> Homes(const std::string& user) {
  if (user == "bob") return "/home/bob";
  return std::nullopt;
}

std::string Resolve(std::string_view p) { return ResolveRemotePath(p, "/home/alice", "/home/alice", Homes); }

TEST(ResolveRemotePath, AbsolutePathsStay) { EXPECT_EQ(Resolve("/srv/x"), "/srv/x"); }

TEST(ResolveRemotePath, RelativePathsAreUnderTheWorkingDirectory) {
  EXPECT_EQ(ResolveRemotePath("backup/x", "/home/alice", "/elsewhere", Homes), "/home/alice/backup/x");
  EXPECT_EQ(ResolveRemotePath(".", "/home/alice", "/elsewhere", Homes), "/home/alice");
  EXPECT_EQ(ResolveRemotePath("./x", "/", "/elsewhere", Homes), "/x");
}

TEST(ResolveRemotePath, TildeIsHomeAndTildeUserThatUsersHome) {
  EXPECT_EQ(Resolve("~"), "/home/alice");
  EXPECT_EQ(Resolve("~/x/y"), "/home/alice/x/y");
  EXPECT_EQ(Resolve("~bob"), "/home/bob");
  EXPECT_EQ(Resolve("~bob/x"), "/home/bob/x");
}

TEST(ResolveRemotePath, UnknownUserOrNoHomeIsAnErrorNamingThePath) {
  try {
    Resolve("~mallory/x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::SelectFiles);
    EXPECT_NE(std::string(e.what()).find("~mallory/x"), std::string::npos);
  }
  EXPECT_THROW(ResolveRemotePath("~/x", "/", "", Homes), Error);
}

}  // namespace
}  // namespace ktsync
