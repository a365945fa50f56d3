#include "transfer/admission.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace ktsync {

Admission::Verdict Admission::Arrive(const std::string& address, Clock::time_point now) {
  Verdict v;
  auto f = failures_.find(address);
  if (f != failures_.end() && now < f->second.refused_until) {
    v.why = address + " failed to authenticate " + std::to_string(limits_.failures) + " times; refused for now";
    return v;
  }
  size_t holds = held_.count(address) ? held_[address] : 0;
  if (holds >= limits_.per_address) {
    v.why = address + " already has " + std::to_string(holds) + " connections authenticating";
    return v;
  }
  if (pending_.size() >= limits_.total) {
    v.evict = Victim(holds);
    if (!v.evict) {
      v.why = "all " + std::to_string(limits_.total) + " authentication slots are taken by other addresses";
      return v;
    }
    Leave(*v.evict, Outcome::Failed, now);  // its slot is the newcomer's from now on
  }
  v.admitted = true;
  v.id = next_id_++;
  pending_.emplace(v.id, Pending{address, now});
  ++held_[address];
  return v;
}

std::optional<uint64_t> Admission::Victim(size_t newcomer_holds) const {
  size_t most = 0;
  for (const auto& [address, n] : held_) most = std::max(most, n);
  if (most <= newcomer_holds) return std::nullopt;
  for (const auto& [id, p] : pending_)  // ids grow with time: the first match is the oldest
    if (held_.at(p.address) == most) return id;
  return std::nullopt;
}

void Admission::Leave(uint64_t id, Outcome outcome, Clock::time_point now) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::string address = std::move(it->second.address);
  pending_.erase(it);
  if (--held_[address] == 0) held_.erase(address);
  if (outcome == Outcome::Authenticated) failures_.erase(address);
  if (outcome == Outcome::Failed) CountFailure(address, now);
}

void Admission::CountFailure(const std::string& address, Clock::time_point now) {
  auto it = failures_.find(address);
  if (it == failures_.end()) {
    if (failures_.size() >= limits_.remembered) {
      std::erase_if(failures_, [&](const auto& kv) {
        return now >= kv.second.refused_until && now - kv.second.first > limits_.window;
      });
    }
    if (failures_.size() >= limits_.remembered) return;  // all recent: a wide flood; the slots still hold
    it = failures_.emplace(address, Failures{0, now, {}}).first;
  }
  Failures& f = it->second;
  if (now - f.first > limits_.window) f = Failures{0, now, {}};
  if (++f.count >= limits_.failures) {
    f.refused_until = now + limits_.penalty;
    f.count = 0;
    f.first = now;
  }
}

std::string PeerAddressKey(int socket_fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(socket_fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    return text;
  }
  if (ss.ss_family != AF_INET6) return {};
  in6_addr addr = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
  if (IN6_IS_ADDR_V4MAPPED(&addr)) {
    ::inet_ntop(AF_INET, &addr.s6_addr[12], text, sizeof text);
    return text;
  }
  std::memset(&addr.s6_addr[8], 0, 8);  // one /64 is one subscriber
  ::inet_ntop(AF_INET6, &addr, text, sizeof text);
  return std::string(text) + "/64";
}

}  // namespace ktsync
