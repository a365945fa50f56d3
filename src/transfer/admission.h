// Admission: which new connections a daemon lets try to authenticate. Pure bookkeeping over
// (address, time) values; the daemon (daemon.cpp) holds the sockets and a mutex.
//
// Without it one address could hold every pre-authentication slot with silent connections
// and lock every client out. So:
//   * an address (an IPv4 address, an IPv6 /64) holds at most `per_address` slots;
//   * when all `total` slots are taken, a newcomer evicts the oldest connection among the
//     addresses that hold the most, as long as they hold more than the newcomer does: a
//     real client's handshake takes milliseconds, so a silent one is always older;
//   * an address whose connections failed to authenticate `failures` times within
//     `window` (a wrong secret, garbage, a timeout, an eviction) is refused for `penalty`;
//     one success forgives it. At most `remembered` addresses are tracked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace ktsync {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    size_t total = 128;
    size_t per_address = 8;
    int failures = 10;
    std::chrono::seconds window{60};
    std::chrono::seconds penalty{60};
    size_t remembered = 4096;
  };
  struct Verdict {
    bool admitted = false;
    uint64_t id = 0;               // admitted: give it back with Leave
    std::optional<uint64_t> evict;  // admitted: this older connection must go
    std::string why;                // refused: for the log
  };

  explicit Admission(Limits limits) : limits_(limits) {}

  Verdict Arrive(const std::string& address, Clock::time_point now);
  // Authenticated forgives the address its failures; Failed counts against it; Neither (we
  // could not serve it) does neither. An evicted connection has left already (as a
  // failure): its Leave does nothing.
  enum class Outcome { Authenticated, Failed, Neither };
  void Leave(uint64_t id, Outcome outcome, Clock::time_point now);

  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    std::string address;
    Clock::time_point since;
  };
  struct Failures {
    int count = 0;
    Clock::time_point first;
    Clock::time_point refused_until;
  };
  std::optional<uint64_t> Victim(size_t newcomer_holds) const;
  void CountFailure(const std::string& address, Clock::time_point now);

  Limits limits_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;  // by id: oldest first
  std::map<std::string, size_t> held_;   // slots per address
  std::map<std::string, Failures> failures_;
};

// The key a connection's peer is counted under: "192.0.2.7", or "2001:db8:1:2::/64";
// an IPv4-mapped IPv6 address counts as its IPv4 address. "" when the fd has no peer.
std::string PeerAddressKey(int socket_fd);

}  // namespace ktsync
