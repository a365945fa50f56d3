#include "mirror/background_scan.h"

namespace ktsync {

BackgroundScan::BackgroundScan(TreeSide side) : side_(std::move(side)), thread_([this] {
  try {
    side_->Scan(problems_, &cancel_);
  } catch (...) {
    error_ = std::current_exception();
  }
}) {}

BackgroundScan::~BackgroundScan() {
  if (!thread_.joinable()) return;
  cancel_ = true;
  thread_.join();
}

TreeSide BackgroundScan::Join(std::vector<Problem>& problems) {
  thread_.join();
  if (error_) std::rethrow_exception(error_);
  problems = problems_.Snapshot();
  return std::move(*side_);
}

}  // namespace ktsync
