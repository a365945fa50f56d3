#include "transfer/daemon.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "store/state_dir.h"
#include "transfer/admission.h"
#include "transfer/control.h"
#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/server_link.h"
#include "util/error.h"
#include "util/privileges.h"

namespace ktsync {
namespace {

// One taken unit of a counter of active sessions, given back when released or destroyed,
// so no exception path can leak a slot.
class Slot {
 public:
  explicit Slot(std::atomic<int>& n) : n_(n) {}
  ~Slot() { Release(); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  void Release() {
    if (held_) n_.fetch_sub(1);
    held_ = false;
  }

 private:
  std::atomic<int>& n_;
  bool held_ = true;
};

// Connections that have not authenticated yet (TLS handshake with the PSK). Each holds a
// thread and ~100 KB until it does or --auth-timeout passes: Admission (admission.h)
// decides who gets one of the slots. Each admitted connection's socket is kept here as a
// duplicate, so an eviction can shut it down without racing its thread's close().
class PendingConnections {
 public:
  // Null when refused (logged through `log`); else the ticket the connection's thread
  // gives back with Leave.
  std::optional<uint64_t> Arrive(int fd, const std::function<void(const std::string&)>& log) {
    std::lock_guard lock(mu_);
    Admission::Verdict v = admission_.Arrive(PeerAddressKey(fd), Admission::Clock::now());
    if (!v.admitted) {
      log("connection refused: " + v.why);
      return std::nullopt;
    }
    if (v.evict) {
      auto victim = fds_.find(*v.evict);
      if (victim != fds_.end()) ::shutdown(victim->second.get(), SHUT_RDWR);
      log("all authentication slots taken: the oldest connection of the address holding the most was dropped");
    }
    fds_.emplace(v.id, UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)));
    return v.id;
  }
  void Leave(uint64_t id, bool authenticated) {
    std::lock_guard lock(mu_);
    admission_.Leave(id, authenticated, Admission::Clock::now());
    fds_.erase(id);
  }

 private:
  std::mutex mu_;
  Admission admission_{Admission::Limits{}};
  std::map<uint64_t, UniqueFd> fds_;
};

// A pending connection's ticket: given back exactly once, as a failure unless the
// connection authenticated first.
class PendingTicket {
 public:
  PendingTicket(PendingConnections& pending, uint64_t id) : pending_(pending), id_(id) {}
  ~PendingTicket() { Leave(false); }
  PendingTicket(const PendingTicket&) = delete;
  PendingTicket& operator=(const PendingTicket&) = delete;
  void Leave(bool authenticated) {
    if (held_) pending_.Leave(id_, authenticated);
    held_ = false;
  }

 private:
  PendingConnections& pending_;
  const uint64_t id_;
  bool held_ = true;
};

// Running sessions by token, so data connections find their session.
class SessionRegistry {
 public:
  DataQueue* Add(const SessionToken& t) {
    std::lock_guard lock(mu_);
    return &sessions_[t];
  }
  void Remove(const SessionToken& t) {
    std::lock_guard lock(mu_);
    sessions_.erase(t);
  }
  bool Route(const DataHello& h, std::unique_ptr<ByteStream> s) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(h.token);
    if (it == sessions_.end()) return false;
    it->second.Push(h.stream, std::move(s));
    return true;
  }

 private:
  std::mutex mu_;
  std::map<SessionToken, DataQueue> sessions_;
};

class Daemon {
 public:
  // The secret file and the port as whoever started us (root: a port below 1024, a secret
  // only root reads); the tree as --user.
  Daemon(const DaemonConfig& cfg, const SessionHandler& handler) : cfg_(cfg), handler_(handler) {
    key_ = DeriveKey(ReadSecretFile(cfg.secret_file, /*enforce_private=*/true), "daemon");
    HostPort hp = ParseHostPort(cfg.listen, 7373);
    listener_ = Listen(hp.host, hp.port);
    if (!cfg.user.empty()) DropPrivileges(cfg.user, cfg.group);
    struct stat st;
    if (::stat(cfg.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(ExitCode::SelectFiles, "--root " + cfg.root + " is not a directory" +
                                             (cfg.user.empty() ? "" : " that --user " + cfg.user + " can reach"));
    std::cerr << "ktsync: serving " << cfg.root << " on " << FormatHostPort(hp.host, LocalPort(listener_.get()))
              << (cfg.read_only ? " (read-only)" : cfg.write_only ? " (write-only)" : "") << std::endl;
  }

  void Serve() {
    for (;;) {
      UniqueFd sock = AcceptWithTimeout(listener_.get(), -1);
      if (!sock) continue;
      std::optional<uint64_t> ticket = pending_.Arrive(sock.get(), [this](const std::string& m) { Log(m); });
      if (!ticket) continue;  // closes sock
      int fd = sock.get();
      try {
        std::thread([this, fd, id = *ticket] { Handle(UniqueFd(fd), id); }).detach();
        sock.release();  // the thread owns it now
      } catch (const std::system_error& e) {
        pending_.Leave(*ticket, /*authenticated=*/true);  // our failure, not the address's
        Log(std::string("cannot start a thread for a new connection (") + e.what() + "); it was dropped");
      }
    }
  }

 private:
  void Log(const std::string& m) {
    if (cfg_.verbose > 0) std::cerr << "ktsync serve: " << m << std::endl;
  }

  void Handle(UniqueFd sock, uint64_t ticket) {
    PendingTicket pending(pending_, ticket);
    std::unique_ptr<ByteStream> s;
    std::optional<Frame> first;
    try {
      SetIoTimeout(sock.get(), cfg_.auth_timeout_sec);  // the pre-auth deadline covers the first frame too
      TlsParams p;
      p.key = key_;
      p.identity = kDaemonIdentity;
      p.allow_ktls = !cfg_.no_ktls;
      p.handshake_timeout_ms = cfg_.auth_timeout_sec * 1000;
      auto tls = TlsStream::Accept(std::move(sock), p);
      pending.Leave(/*authenticated=*/true);  // the PSK handshake succeeded: the peer knows the secret
      int fd = tls->fd();
      s = std::move(tls);
      FrameReader reader(*s);
      first = reader.Next();
      if (!first) return;
      if (first->type == FrameType::DataHello) {
        DataHello h = DecodeDataHello(first->payload);
        SetIoTimeout(fd, 0);
        if (!registry_.Route(h, std::move(s))) Log("data connection for an unknown session dropped");
        return;
      }
      if (first->type != FrameType::Hello) {
        Log(std::string("dropped a client that began with ") + FrameTypeName(first->type));
        return;
      }
      Hello hello = DecodeHello(first->payload);
      SetIoTimeout(fd, 0);
      RunControl(*s, hello);
    } catch (const Error& e) {
      Log(std::string("connection dropped: ") + e.what());
    } catch (const std::exception& e) {
      // Out of memory or threads in one session: that client is dropped, the daemon lives.
      Log(std::string("connection dropped: ") + e.what());
    }
  }

  void RunControl(ByteStream& s, const Hello& hello) {
    if (active_.fetch_add(1) >= cfg_.max_connections) {
      active_.fetch_sub(1);
      Control c(s);
      SendError(c, Error(ExitCode::StartProtocol, "server busy: too many clients (--max-connections " +
                                                       std::to_string(cfg_.max_connections) + "); try again later"));
      return;
    }
    Slot active(active_);
    ServerConfig sc;
    sc.root = cfg_.root;
    sc.state_dir = cfg_.state_dir;
    sc.read_only = cfg_.read_only;
    sc.write_only = cfg_.write_only;
    sc.no_ktls = cfg_.no_ktls;
    sc.limits = cfg_.limits;
    sc.peer_hello = hello;
    sc.register_session = [this](const SessionToken& t) { return registry_.Add(t); };
    sc.unregister_session = [this](const SessionToken& t) { registry_.Remove(t); };
    sc.log = [this](const std::string& m) { Log(m); };
    int rc = handler_(s, sc);
    Log("session ended with exit code " + std::to_string(rc));
  }

  DaemonConfig cfg_;
  const SessionHandler& handler_;
  std::array<unsigned char, 32> key_{};
  UniqueFd listener_;
  SessionRegistry registry_;
  std::atomic<int> active_{0};
  PendingConnections pending_;
};

}  // namespace

int RunDaemon(const DaemonConfig& cfg, const SessionHandler& handler) {
  Daemon d(cfg, handler);
  d.Serve();
  return 0;
}

}  // namespace ktsync
