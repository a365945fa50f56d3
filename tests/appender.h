// Appender: appends lines to a file from another thread for as long as it lives, so that
// every read of the file overlaps a change (tests of apply/source_read.h).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "util/unique_fd.h"

namespace ktsync {

class Appender {
 public:
  explicit Appender(const std::filesystem::path& p)
      : fd_(open(p.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC)), thread_([this] {
          while (!stop_ && write(fd_.get(), "line\n", 5) == 5) {
          }
        }) {}
  ~Appender() {
    stop_ = true;
    thread_.join();
  }
  Appender(const Appender&) = delete;
  Appender& operator=(const Appender&) = delete;

 private:
  UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace ktsync
