#include "transfer/secret.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>

#include "util/error.h"
#include "util/unique_fd.h"

namespace ktsync {

namespace {

constexpr std::string_view kPskSalt = "ktsync-psk-v1";

// Crypto failures happen while the session is being set up, hence StartProtocol.
[[noreturn]] void ThrowOpenSsl(const std::string& what) {
  char buf[256] = "unknown OpenSSL error";
  unsigned long e = ERR_get_error();
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  throw Error(ExitCode::StartProtocol, what + ": " + buf);
}

std::string ModeText(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Anyone who can read the secret can impersonate either side; anyone who can write it, or
// owns it, can swap in their own.
void CheckPrivate(const std::string& path, const struct stat& st) {
  if (st.st_mode & 077)
    throw Error(ExitCode::Usage, "secret file " + path + " is readable or writable by others (mode " +
                                     ModeText(st.st_mode) + "); run chmod 600 " + path);
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    throw Error(ExitCode::Usage, "secret file " + path + " is owned by uid " +
                                     std::to_string(st.st_uid) + ", not by uid " +
                                     std::to_string(::geteuid()) + " or root; chown it");
}

std::string ReadAtMost(int fd, size_t limit, const std::string& path) {
  std::string data(limit, '\0');
  size_t got = 0;
  while (got < limit) {
    ssize_t n = ::read(fd, data.data() + got, limit - got);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError("read secret file " + path, errno, ExitCode::Usage);
    }
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

void StripOneLineEnd(std::string* s) {
  if (!s->empty() && s->back() == '\n') s->pop_back();
  if (!s->empty() && s->back() == '\r') s->pop_back();
}

struct KdfFree {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

OSSL_PARAM OctetParam(const char* key, std::string_view bytes) {
  return OSSL_PARAM_construct_octet_string(key, const_cast<char*>(bytes.data()), bytes.size());
}

}  // namespace

std::string ReadSecretFile(const std::string& path, bool enforce_private) {
  // O_NONBLOCK: a FIFO planted at the path must not hang the daemon; fstat rejects it next.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) throw SysError("open secret file " + path, errno, ExitCode::Usage);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw SysError("stat secret file " + path, errno, ExitCode::Usage);
  if (!S_ISREG(st.st_mode))
    throw Error(ExitCode::Usage, "secret file " + path + " is not a regular file");
  if (enforce_private) CheckPrivate(path, st);

  std::string secret = ReadAtMost(fd.get(), kMaxSecretFileBytes + 1, path);
  if (secret.size() > kMaxSecretFileBytes)
    throw Error(ExitCode::Usage, "secret file " + path + " is larger than " +
                                     std::to_string(kMaxSecretFileBytes) + " bytes");
  StripOneLineEnd(&secret);
  if (secret.size() < kMinSecretBytes) {
    OPENSSL_cleanse(secret.data(), secret.size());
    throw Error(ExitCode::Usage,
                "secret in " + path + " is too short: use at least " +
                    std::to_string(kMinSecretBytes) +
                    " random characters, e.g. `head -c 32 /dev/urandom | base64 > " + path + "`");
  }
  return secret;
}

std::vector<unsigned char> Hkdf(std::string_view ikm, std::string_view salt, std::string_view info,
                                size_t out_len) {
  std::unique_ptr<EVP_KDF, KdfFree> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) ThrowOpenSsl("HKDF unavailable");
  std::unique_ptr<EVP_KDF_CTX, KdfFree> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) ThrowOpenSsl("HKDF context");

  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0);
  *p++ = OctetParam(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) *p++ = OctetParam(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) *p++ = OctetParam(OSSL_KDF_PARAM_INFO, info);
  *p = OSSL_PARAM_construct_end();

  std::vector<unsigned char> out(out_len);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) ThrowOpenSsl("HKDF-SHA256");
  return out;
}

std::array<unsigned char, 32> DeriveKey(const std::string& secret, std::string_view label) {
  std::vector<unsigned char> okm = Hkdf(secret, kPskSalt, label, 32);
  std::array<unsigned char, 32> key;
  std::copy(okm.begin(), okm.end(), key.begin());
  OPENSSL_cleanse(okm.data(), okm.size());
  return key;
}

std::array<unsigned char, 32> RandomKey() {
  std::array<unsigned char, 32> key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) ThrowOpenSsl("RAND_bytes");
  return key;
}

std::array<unsigned char, 16> RandomToken() {
  std::array<unsigned char, 16> token;
  if (RAND_bytes(token.data(), static_cast<int>(token.size())) != 1) ThrowOpenSsl("RAND_bytes");
  return token;
}

std::string HexEncode(const unsigned char* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

}  // namespace ktsync
