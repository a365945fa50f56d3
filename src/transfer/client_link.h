// ClientLink: the client end of one session, set up: connected (ssh, or TLS to a daemon),
// greeted, its Request answered by Ready, and (daemon) its second control connection open.
// What runs over it is the caller's business: this layer only speaks the protocol.
//
// Control channel: the client writes to out() and reads from in(); over ssh both are the
// ssh pipes, to a daemon they are two TLS connections (one per direction), so a reader
// thread and writer threads never share a TLS stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "transfer/control.h"
#include "transfer/mux.h"
#include "transfer/session_messages.h"
#include "transfer/ssh_process.h"
#include "transfer/stream.h"

namespace ktsync {

struct RemoteTarget {
  bool daemon = false;
  std::string user;
  std::string host;
  uint16_t port = 0;          // daemon
  std::string path;
  std::string ssh_command = "ssh";
  std::string remote_ktsync = "ktsync";
  std::string secret_file;    // daemon
};

// How a session's data travelled, for the summary: via "direct" or "ssh" (or "daemon"),
// and why ("connect to 10.0.0.5:41234: timed out after 2000 ms; data inside ssh").
struct DataPath {
  std::string via;
  std::string why;
};

class ClientLink {
 public:
  // Fills the request's transport fields (data key) itself. Throws Error: a failure to
  // start is explained (ssh's exit status, a missing remote ktsync, a refused request).
  // `file_list`: a pull's --files-from, sent after the Request (request.file_list is set).
  ClientLink(const RemoteTarget& target, SessionRequest request, bool no_encryption, bool no_ktls, int timeout_sec,
             std::shared_ptr<const FileList> file_list = nullptr);
  ~ClientLink();

  ByteStream& in() { return reverse_ ? *reverse_ : *control_; }
  ByteStream& out() { return *control_; }
  const SessionReady& ready() const { return ready_; }
  const SessionRequest& request() const { return request_; }
  // "host:/path" or "ktsync://host:port/path", for messages.
  const std::string& name() const { return name_; }
  // Empty for a dry run over ssh (no data travels).
  const DataPath& data_path() const { return data_path_; }

  // Data connection number `no` (a fresh one on rotation).
  std::unique_ptr<ByteStream> OpenData(int no);
  // The session is over: no more writes; waits for ssh (a warning for a late failure).
  // Returns that warning, or "".
  std::string Close();

 private:
  void Connect();
  void Greet();
  DataRoute ChooseRoute();  // sets data_path_
  void RouteData();

  RemoteTarget target_;
  SessionRequest request_;
  std::shared_ptr<const FileList> file_list_;
  std::string name_;
  std::unique_ptr<SshProcess> ssh_;
  std::unique_ptr<Mux> mux_;  // data inside ssh: carries control_ and the data channels
  std::unique_ptr<ByteStream> control_;
  std::unique_ptr<ByteStream> reverse_;  // daemon: server -> client
  DataSecurity data_;
  std::string data_host_;
  uint16_t data_port_ = 0;
  SessionReady ready_;
  std::unique_ptr<ByteStream> first_data_;  // the direct connection that proved the route
  DataPath data_path_;
};

}  // namespace ktsync
