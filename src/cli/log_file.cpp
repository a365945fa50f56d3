#include "cli/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "cli/out_format.h"
#include "util/error.h"

namespace ktsync {

LogFile::LogFile(const std::string& path)
    : fd_(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644)) {
  if (!fd_) {
    throw Error(ExitCode::FileIo, ErrnoMessage("--log-file " + path, errno) +
                                      " (nothing was changed; give a file you can write, or drop --log-file)");
  }
}

void LogFile::Line(std::string_view text) {
  std::string line = LogTime(std::time(nullptr)) + " [" + std::to_string(::getpid()) + "] ";
  line += text;
  line += '\n';
  ssize_t ignored = ::write(fd_.get(), line.data(), line.size());
  (void)ignored;
}

}  // namespace ktsync
