#include "util/error.h"

#include <cstring>

namespace ktsync {

std::string ErrnoMessage(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

}  // namespace ktsync
