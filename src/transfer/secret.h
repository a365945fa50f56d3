// The daemon's shared secret and the keys derived from it.
//
// Contract: the secret file is read once, checked like ssh checks private keys (regular file,
// owned by us or root, no group/other access when enforce_private), and never logged. Keys are
// derived with HKDF-SHA256 (RFC 5869), salt "ktsync-psk-v1", info = a per-purpose label, so one
// secret yields independent keys for independent uses. Randomness comes from OpenSSL's CSPRNG;
// any OpenSSL failure throws rather than returning weak bytes.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ktsync {

inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecretFileBytes = 4096;

// Reads the secret: one trailing "\n", "\r\n" or "\r" is stripped; at least kMinSecretBytes
// must remain. Throws Error(ExitCode::Usage) naming the path and the fix.
std::string ReadSecretFile(const std::string& path, bool enforce_private);

// HKDF-SHA256 (extract then expand). Empty salt means the RFC's default (HashLen zero bytes).
std::vector<unsigned char> Hkdf(std::string_view ikm, std::string_view salt, std::string_view info,
                                size_t out_len);

// Hkdf(secret, "ktsync-psk-v1", label, 32).
std::array<unsigned char, 32> DeriveKey(const std::string& secret, std::string_view label);

std::array<unsigned char, 32> RandomKey();
std::array<unsigned char, 16> RandomToken();

// Lower-case hex.
std::string HexEncode(const unsigned char* data, size_t len);

}  // namespace ktsync
