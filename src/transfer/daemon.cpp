#include "transfer/daemon.h"

#include <sys/stat.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "store/state_dir.h"
#include "transfer/control.h"
#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/server_link.h"
#include "util/error.h"

namespace ktsync {
namespace {

// Connections that have not authenticated yet (TLS handshake with the PSK). Each holds a
// thread and ~100 KB until it does or --auth-timeout passes; without a cap a flood of
// silent connections grows the daemon without bound, and once no thread can be created,
// ends it. Beyond the cap new connections are closed at once (sshd's MaxStartups idea).
constexpr int kMaxPendingConnections = 128;

// One taken unit of a counter (pending or active connections), given back when released
// or destroyed, so no exception path can leak a slot.
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
  Daemon(const DaemonConfig& cfg, const SessionHandler& handler) : cfg_(cfg), handler_(handler) {
    struct stat st;
    if (::stat(cfg.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(ExitCode::SelectFiles, "--root " + cfg.root + " is not a directory");
    key_ = DeriveKey(ReadSecretFile(cfg.secret_file, /*enforce_private=*/true), "daemon");
    HostPort hp = ParseHostPort(cfg.listen, 7373);
    listener_ = Listen(hp.host, hp.port);
    std::cerr << "ktsync: serving " << cfg.root << " on " << FormatHostPort(hp.host, LocalPort(listener_.get()))
              << (cfg.read_only ? " (read-only)" : cfg.write_only ? " (write-only)" : "") << std::endl;
  }

  void Serve() {
    for (;;) {
      UniqueFd sock = AcceptWithTimeout(listener_.get(), -1);
      if (!sock) continue;
      if (pending_.fetch_add(1) >= kMaxPendingConnections) {
        pending_.fetch_sub(1);
        Log("more than " + std::to_string(kMaxPendingConnections) +
            " connections are authenticating; a new one was dropped");
        continue;  // closes sock
      }
      int fd = sock.get();
      try {
        std::thread([this, fd] { Handle(UniqueFd(fd)); }).detach();
        sock.release();  // the thread owns it now
      } catch (const std::system_error& e) {
        pending_.fetch_sub(1);
        Log(std::string("cannot start a thread for a new connection (") + e.what() + "); it was dropped");
      }
    }
  }

 private:
  void Log(const std::string& m) {
    if (cfg_.verbose > 0) std::cerr << "ktsync serve: " << m << std::endl;
  }

  void Handle(UniqueFd sock) {
    Slot pending(pending_);
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
      pending.Release();  // the PSK handshake succeeded: the peer knows the secret
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
  std::atomic<int> pending_{0};
};

}  // namespace

int RunDaemon(const DaemonConfig& cfg, const SessionHandler& handler) {
  Daemon d(cfg, handler);
  d.Serve();
  return 0;
}

}  // namespace ktsync
