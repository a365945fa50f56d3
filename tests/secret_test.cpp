// links: ktsync_util OpenSSL::Crypto
// The module source is compiled in directly (not via ktsync_transfer) to isolate this test
// from other src/transfer files while that library is in flux.
#include "../src/transfer/secret.cpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "temp_dir.h"

namespace ktsync {
namespace {

using namespace std::string_literals;

class SecretFileTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    std::string path = dir_ + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    EXPECT_TRUE(fd.valid());
    EXPECT_EQ(::write(fd.get(), content.data(), content.size()),
              static_cast<ssize_t>(content.size()));
    EXPECT_EQ(::fchmod(fd.get(), mode), 0);  // not subject to umask
    return path;
  }

  // The message of the Error(Usage) that reading `path` throws, or "" if it succeeds.
  static std::string Refusal(const std::string& path, bool enforce = true) {
    try {
      ReadSecretFile(path, enforce);
      return "";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::Usage);
      return e.what();
    }
  }

  TempDir scratch_{"ktsync-secret-test"};
  std::string dir_ = scratch_.str();
};

constexpr char kSecret[] = "0123456789abcdefXYZ";

TEST_F(SecretFileTest, ReadsPrivateSecretAndStripsOneLineEnd) {
  EXPECT_EQ(ReadSecretFile(Write("a", std::string(kSecret) + "\n", 0600), true), kSecret);
  EXPECT_EQ(ReadSecretFile(Write("b", std::string(kSecret) + "\r\n", 0400), true), kSecret);
  EXPECT_EQ(ReadSecretFile(Write("c", kSecret, 0600), true), kSecret);
  EXPECT_EQ(ReadSecretFile(Write("d", std::string(kSecret) + "\n\n", 0600), true),
            std::string(kSecret) + "\n");
}

TEST_F(SecretFileTest, RefusesGroupOrOtherAccessWhenEnforced) {
  for (mode_t mode : {0640, 0604, 0602, 0660, 0644}) {
    std::string path = Write("s", kSecret, mode);
    char expect[64];
    std::snprintf(expect, sizeof expect, "(mode %04o); run chmod 600 ", static_cast<unsigned>(mode));
    EXPECT_EQ(Refusal(path), "secret file " + path + " is readable or writable by others " +
                                 expect + path);
    EXPECT_EQ(ReadSecretFile(path, false), kSecret);
  }
}

TEST_F(SecretFileTest, RefusesFileOwnedBySomeoneElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown";
  std::string path = Write("s", kSecret, 0600);
  ASSERT_EQ(::chown(path.c_str(), 12345, 12345), 0);
  EXPECT_NE(Refusal(path).find("is owned by uid 12345"), std::string::npos);
  EXPECT_EQ(ReadSecretFile(path, false), kSecret);
}

TEST_F(SecretFileTest, RefusesShortOrEmptySecret) {
  std::string path = Write("s", "0123456789abcde\n", 0600);  // 15 characters
  EXPECT_EQ(Refusal(path), "secret in " + path +
                               " is too short: use at least 16 random characters, e.g. "
                               "`head -c 32 /dev/urandom | base64 > " + path + "`");
  EXPECT_NE(Refusal(Write("e", "", 0600)).find("too short"), std::string::npos);
  EXPECT_NE(Refusal(Write("n", "\n", 0600)).find("too short"), std::string::npos);
}

TEST_F(SecretFileTest, RefusesOversizedFile) {
  EXPECT_EQ(ReadSecretFile(Write("max", std::string(4096, 'k'), 0600), true).size(), 4096u);
  std::string path = Write("big", std::string(4097, 'k'), 0600);
  EXPECT_EQ(Refusal(path), "secret file " + path + " is larger than 4096 bytes");
}

TEST_F(SecretFileTest, RefusesNonRegularFilesWithoutBlocking) {
  EXPECT_EQ(Refusal(dir_), "secret file " + dir_ + " is not a regular file");
  std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(Refusal(fifo), "secret file " + fifo + " is not a regular file");
}

TEST_F(SecretFileTest, MissingFileNamesPathAndCause) {
  std::string path = dir_ + "/missing";
  EXPECT_EQ(Refusal(path), "open secret file " + path + ": No such file or directory");
}

std::string Hex(const std::vector<unsigned char>& v) { return HexEncode(v.data(), v.size()); }

// RFC 5869 appendix A.1 (test case 1) and A.3 (test case 3: empty salt and info).
TEST(Hkdf, MatchesRfc5869TestVectors) {
  std::string ikm(22, '\x0b');
  std::string salt = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c"s;
  std::string info = "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9";
  EXPECT_EQ(Hex(Hkdf(ikm, salt, info, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  EXPECT_EQ(Hex(Hkdf(ikm, "", "", 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(DeriveKey, IsDeterministicAndSeparatedByLabelAndSecret) {
  const std::string secret = "correct horse battery staple";
  EXPECT_EQ(DeriveKey(secret, "auth"), DeriveKey(secret, "auth"));
  EXPECT_NE(DeriveKey(secret, "auth"), DeriveKey(secret, "data"));
  EXPECT_NE(DeriveKey(secret, "auth"), DeriveKey(secret + "!", "auth"));
  auto key = DeriveKey(secret, "auth");
  std::vector<unsigned char> direct = Hkdf(secret, "ktsync-psk-v1", "auth", 32);
  EXPECT_TRUE(std::equal(key.begin(), key.end(), direct.begin(), direct.end()));
}

TEST(Random, KeysAndTokensDiffer) {
  EXPECT_NE(RandomKey(), RandomKey());
  EXPECT_NE(RandomToken(), RandomToken());
}

TEST(HexEncode, IsLowerCase) {
  const unsigned char bytes[] = {0x00, 0x9f, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes, sizeof bytes), "009fabff");
  EXPECT_EQ(HexEncode(bytes, 0), "");
}

}  // namespace
}  // namespace ktsync
