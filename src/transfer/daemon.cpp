#include "transfer/daemon.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "store/state_dir.h"
#include "transfer/admission.h"
#include "transfer/control.h"
#include "transfer/net.h"
#include "transfer/secret.h"
#include "transfer/serve_config.h"
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
      log("all authentication slots taken: the oldest connection of an address holding the most was dropped");
    }
    fds_.emplace(v.id, UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)));
    return v.id;
  }
  void Leave(uint64_t id, Admission::Outcome outcome) {
    std::lock_guard lock(mu_);
    admission_.Leave(id, outcome, Admission::Clock::now());
    fds_.erase(id);
  }

 private:
  std::mutex mu_;
  Admission admission_{Admission::Limits{}};
  std::map<uint64_t, UniqueFd> fds_;
};

// A pending connection's ticket: given back exactly once, as a failure unless the
// connection authenticated and said what it is first.
class PendingTicket {
 public:
  PendingTicket(PendingConnections& pending, uint64_t id) : pending_(pending), id_(id) {}
  ~PendingTicket() { Leave(Admission::Outcome::Failed); }
  PendingTicket(const PendingTicket&) = delete;
  PendingTicket& operator=(const PendingTicket&) = delete;
  void Leave(Admission::Outcome outcome) {
    if (held_) pending_.Leave(id_, outcome);
    held_ = false;
  }

 private:
  PendingConnections& pending_;
  const uint64_t id_;
  bool held_ = true;
};

// Running sessions by token, so data connections find their session (only with the
// secret of the session's own module).
class SessionRegistry {
 public:
  DataQueue* Add(const SessionToken& t, const Module* module) {
    std::lock_guard lock(mu_);
    Session& s = sessions_[t];
    s.module = module;
    return &s.queue;
  }
  void Remove(const SessionToken& t) {
    std::lock_guard lock(mu_);
    sessions_.erase(t);
  }
  bool Route(const DataHello& h, const Module* module, std::unique_ptr<ByteStream> s) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(h.token);
    if (it == sessions_.end() || it->second.module != module) return false;
    it->second.queue.Push(h.stream, std::move(s));
    return true;
  }

 private:
  struct Session {
    const Module* module = nullptr;
    DataQueue queue;
  };
  std::mutex mu_;
  std::map<SessionToken, Session> sessions_;
};

// The --root form is one unnamed module; --config names several.
std::vector<Module> LoadModules(const DaemonConfig& cfg) {
  if (cfg.config_file.empty())
    return {Module{"", cfg.root, cfg.secret_file, cfg.read_only, cfg.write_only, cfg.limits, 0, cfg.fake_super}};
  std::ifstream in(cfg.config_file);
  if (!in) throw SysError("cannot read --config " + cfg.config_file, errno, ExitCode::Usage);
  std::stringstream text;
  text << in.rdbuf();
  return ParseServeConfig(text.str(), cfg.config_file);
}

// What a module is called in messages.
std::string Describe(const Module& m) { return m.name.empty() ? m.root : "[" + m.name + "] " + m.root; }

class Daemon {
 public:
  // The secret file and the port as whoever started us (root: a port below 1024, a secret
  // only root reads); the tree as --user.
  Daemon(const DaemonConfig& cfg, const SessionHandler& handler)
      : cfg_(cfg), handler_(handler), modules_(LoadModules(cfg)), sessions_(modules_.size()) {
    for (const Module& m : modules_) {
      try {
        keys_.push_back(DeriveKey(ReadSecretFile(m.secret_file, /*enforce_private=*/true), "daemon"));
      } catch (const Error& e) {
        throw Error(e.code(), m.name.empty() ? e.what() : "module [" + m.name + "]: " + e.what());
      }
    }
    HostPort hp = ParseListenAddress(cfg.listen, 7373);
    listener_ = Listen(hp.host, hp.port);
    if (!cfg.user.empty()) DropPrivileges(cfg.user, cfg.group);
    for (const Module& m : modules_) {
      struct stat st;
      if (::stat(m.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw Error(ExitCode::SelectFiles, Describe(m) + " is not a directory" +
                                               (cfg.user.empty() ? "" : " that --user " + cfg.user + " can reach"));
      std::cerr << "ktsync: serving " << Describe(m) << " on " << FormatHostPort(hp.host, LocalPort(listener_.get()))
                << (m.read_only ? " (read-only)" : m.write_only ? " (write-only)" : "") << std::endl;
    }
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
        pending_.Leave(*ticket, Admission::Outcome::Neither);  // our failure, not the address's
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
      SetIoTimeout(sock.get(), cfg_.auth_timeout_sec);  // each read until the first frame is in
      TlsParams p;
      p.find_key = [this](std::string_view identity) -> std::optional<TlsParams::Key> {
        const Module* m = ModuleFor(modules_, identity);
        if (!m) return std::nullopt;
        return keys_[static_cast<size_t>(m - modules_.data())];
      };
      p.allow_ktls = !cfg_.no_ktls;
      p.handshake_timeout_ms = cfg_.auth_timeout_sec * 1000;
      auto tls = TlsStream::Accept(std::move(sock), p);
      const Module& module = *ModuleFor(modules_, tls->identity());
      int fd = tls->fd();
      s = std::move(tls);
      // The slot is held until the peer says what it is, at once: a Keepalive (or anything
      // else) first would let a secret holder keep connections that count nowhere.
      FrameReader reader(*s, /*skip_keepalives=*/false);
      first = reader.Next();
      if (!first) return;
      if (first->type == FrameType::Hello || first->type == FrameType::DataHello)
        pending.Leave(Admission::Outcome::Authenticated);
      if (first->type == FrameType::DataHello) {
        DataHello h = DecodeDataHello(first->payload);
        // A data connection may rest while its session plans; the session's control
        // channel keeps the watch.
        SetIoTimeout(fd, h.stream == kReverseControlStream ? cfg_.idle_timeout_sec : 0);
        if (!registry_.Route(h, &module, std::move(s))) Log("data connection for an unknown session dropped");
        return;
      }
      if (first->type != FrameType::Hello) {
        Log(std::string("dropped a client that began with ") + FrameTypeName(first->type));
        return;
      }
      Hello hello = DecodeHello(first->payload);
      SetIoTimeout(fd, cfg_.idle_timeout_sec);
      RunControl(*s, hello, module);
    } catch (const Error& e) {
      Log(std::string("connection dropped: ") + e.what());
    } catch (const std::exception& e) {
      // Out of memory or threads in one session: that client is dropped, the daemon lives.
      Log(std::string("connection dropped: ") + e.what());
    }
  }

  void RunControl(ByteStream& s, const Hello& hello, const Module& module) {
    std::atomic<int>& sessions = sessions_[static_cast<size_t>(&module - modules_.data())];
    int running = active_.fetch_add(1);
    Slot active(active_);
    int in_module = sessions.fetch_add(1);
    Slot module_slot(sessions);
    std::string busy;
    if (running >= cfg_.max_connections) {
      busy = "too many clients (--max-connections " + std::to_string(cfg_.max_connections) + ")";
    } else if (module.max_sessions > 0 && in_module >= module.max_sessions) {
      busy = "module [" + module.name + "] has its " + std::to_string(module.max_sessions) + " sessions (max sessions)";
    }
    if (!busy.empty()) {
      Control c(s);
      SendError(c, Error(ExitCode::StartProtocol, "server busy: " + busy + "; try again later"));
      return;
    }
    ServerConfig sc;
    sc.root = module.root;
    sc.module = module.name;
    sc.state_dir = cfg_.state_dir;
    sc.read_only = module.read_only;
    sc.write_only = module.write_only;
    sc.no_ktls = cfg_.no_ktls;
    sc.limits = module.limits;
    sc.fake_super = module.fake_super;
    sc.peer_hello = hello;
    sc.register_session = [this, &module](const SessionToken& t) { return registry_.Add(t, &module); };
    sc.unregister_session = [this](const SessionToken& t) { registry_.Remove(t); };
    sc.log = [this](const std::string& m) { Log(m); };
    int rc = handler_(s, sc);
    Log("session ended with exit code " + std::to_string(rc));
  }

  DaemonConfig cfg_;
  const SessionHandler& handler_;
  const std::vector<Module> modules_;
  std::vector<TlsParams::Key> keys_;  // by module
  std::vector<std::atomic<int>> sessions_;  // running, by module
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
