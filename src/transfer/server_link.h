// ServerLink: the server end of one session, set up: greeted, the client's Request read and
// allowed, Ready sent with where its data connections go, and (daemon) the second control
// connection taken. `ktsync serve --stdio` (started by a client over ssh) and each client of
// a `ktsync serve --listen` daemon get one. What runs over it is the caller's business.
//
// Control channel: the server reads in() and writes out(); over ssh both are stdin/stdout
// (or, with data inside ssh, the control channel multiplexed on them),
// for a daemon out() is the client's second TLS connection (one thread per TLS stream).
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "manifest/write_limits.h"
#include "transfer/control.h"
#include "transfer/mux.h"
#include "transfer/session_messages.h"

namespace ktsync {

struct ServerConfig {
  std::string root;       // daemon: requests are confined beneath it; ssh: "" (absolute paths)
  std::string module;     // daemon: the module's name, the first component of request paths ("" for --root)
  std::string state_dir;
  bool read_only = false;
  bool write_only = false;
  bool no_ktls = false;
  WriteLimits limits;     // a daemon's: what a pushing client may create
  bool fake_super = false;  // a daemon's: privileged metadata kept in an xattr (fake_super.h)
  // Daemon: called with the new session's token; returns the queue its data connections
  // will be routed to. ssh mode (null): the session opens a DataListener of its own.
  std::function<DataQueue*(const SessionToken&)> register_session;
  std::function<void(const SessionToken&)> unregister_session;
  std::function<void(const std::string&)> log;  // warnings for the server's operator
  std::optional<Hello> peer_hello;               // daemon: the client's Hello, already read
};

class ServerLink {
 public:
  // Throws Error; the caller reports it to the client (SendError).
  ServerLink(ByteStream& control, const ServerConfig& cfg);
  ~ServerLink();

  const SessionRequest& request() const { return request_; }
  // A pull's --files-from list (null without one): what the server's SRC scan takes.
  const std::shared_ptr<const FileList>& file_list() const { return file_list_; }
  const ServerConfig& config() const { return cfg_; }
  ByteStream& in() { return channel_ ? *channel_ : control_; }
  ByteStream& out() { return reverse_ ? *reverse_ : in(); }

  // The client's next data connection (each waits at most kDataConnectTimeout).
  std::unique_ptr<ByteStream> TakeData();
  // Ends a TakeData wait (and later ones) with `why`: the control channel is gone.
  void AbortData(const std::string& why);
  // Best effort: tells the client why the session ended (it may be gone).
  void SendError(const Error& e) noexcept;

  static constexpr auto kDataConnectTimeout = std::chrono::seconds(30);

 private:
  void CheckAllowed() const;
  std::string SendKtlsUnavailable() const;
  void PrepareData();
  void AwaitRoute();

  ByteStream& control_;
  const ServerConfig& cfg_;
  SessionRequest request_;
  std::shared_ptr<const FileList> file_list_;
  SessionToken token_{};
  bool registered_ = false;
  DataQueue* queue_ = nullptr;
  std::unique_ptr<DataListener> listener_;
  std::unique_ptr<ByteStream> reverse_;  // daemon: server -> client
  std::unique_ptr<Mux> mux_;             // ssh mode, data inside ssh
  std::unique_ptr<ByteStream> channel_;  // then: the control channel, carried by mux_
};

}  // namespace ktsync
