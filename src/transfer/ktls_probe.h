// Can this kernel do TLS (kTLS) at all? Probed once per process on a loopback TCP pair, so
// a userspace-TLS run can say exactly why the kernel was not used.
#pragma once

#include <string>

namespace ktsync {

// "" when setsockopt(TCP_ULP, "tls") works here; otherwise why not, e.g.
// "tls module not loaded (setsockopt TCP_ULP \"tls\": No such file or directory)".
// The probe runs on the first call; later calls return the cached answer (thread-safe).
std::string KtlsUnavailableReason();

}  // namespace ktsync
