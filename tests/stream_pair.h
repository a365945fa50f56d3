// Test helpers for the protocol layer: a connected pair of byte streams (a socketpair, so
// one end may be read by one thread while another writes it, as the channels do), and an
// expectation on a thrown ktsync::Error.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <exception>
#include <memory>
#include <string>

#include "transfer/net.h"
#include "transfer/stream.h"
#include "util/error.h"

namespace ktsync {

struct StreamPair {
  std::unique_ptr<ByteStream> a, b;
};

// Reads and writes give up after `timeout_sec`: a hang becomes a Timeout error, not a stuck test.
inline StreamPair SocketPair(const std::string& a_name = "peer A", const std::string& b_name = "peer B",
                             int timeout_sec = 30) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw SysError("socketpair", errno);
  SetIoTimeout(sv[0], timeout_sec);
  SetIoTimeout(sv[1], timeout_sec);
  return {std::make_unique<FdStream>(UniqueFd(sv[0]), a_name), std::make_unique<FdStream>(UniqueFd(sv[1]), b_name)};
}

// `e` is an Error with `code` whose message contains `needle`.
inline void ExpectError(const std::exception_ptr& e, ExitCode code, const std::string& needle) {
  ASSERT_TRUE(e) << "no error; expected one containing \"" << needle << "\"";
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), code) << err.what();
    EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
  }
}

template <typename Fn>
void ExpectError(ExitCode code, const std::string& needle, Fn fn) {
  std::exception_ptr e;
  try {
    fn();
  } catch (...) {
    e = std::current_exception();
  }
  ExpectError(e, code, needle);
}

}  // namespace ktsync
