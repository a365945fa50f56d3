// LogFile: --log-file, rsync's kind: lines appended to a file the user keeps, each
// "YYYY/MM/DD HH:MM:SS [pid] text" (local time, this process's id). Each line is one
// write(2) to a file opened O_APPEND, so runs sharing a log do not overwrite each other's
// lines. Not thread-safe: the Reporter calls it under its lock.
#pragma once

#include <string>
#include <string_view>

#include "util/unique_fd.h"

namespace ktsync {

class LogFile {
 public:
  // Creates the file (mode 0644 less the umask) when missing; throws Error(ExitCode::FileIo).
  explicit LogFile(const std::string& path);

  // `text` is one line: the caller escapes what could break it (TerminalSafe names).
  // A failed write is ignored: a full disk must not stop the mirror the log describes.
  void Line(std::string_view text);

 private:
  UniqueFd fd_;
};

}  // namespace ktsync
