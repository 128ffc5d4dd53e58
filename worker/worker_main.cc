// worker (forked as root; unprivileged once confined): accept loop and one connection's requests.
#include "worker/worker_main.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/text.h"
#include "base/timespec.h"
#include "base/unique_fd.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#ifdef BACKUPD_TEST_HOOKS
#include "worker/attack_hook.h"
#endif
#include "worker/connection.h"
#include "worker/landlock.h"
#include "worker/monitor_authenticator.h"
#include "worker/privdrop.h"
#include "worker/reporter.h"
#include "worker/session.h"
#include "worker/syscall_filter.h"
#include "worker/tls_transport.h"
#include "worker/user_dir.h"

namespace backupd::worker {

namespace {

volatile sig_atomic_t g_stop = 0;

// How long a worker rests after accept() failed for want of descriptors or memory. The listening
// socket stays readable, so without a pause the worker would spin and report the error on every
// turn; 100 ms caps that at ten reports a second, yet is far below any client's wait (timeouts are
// whole seconds), so a descriptor freed meanwhile is soon used. SIGTERM still ends the pause.
constexpr std::chrono::milliseconds kAcceptRetryPause{100};

// RLIMIT_NPROC of a worker. The kernel counts every process of the worker user against it: all
// workers of both generations alive during a reload, each with at most one session child. The
// pool's own limit (workers.max) is a setting, and the worker user may run other processes (or
// another backupd), so the tightest bound that never refuses a fork the pool may make is the
// largest pool: two generations of conf::kMaxWorkers workers and their session children.
constexpr rlim_t kWorkerProcessLimit = 2 * 2 * conf::kMaxWorkers;

// A process that cannot confine itself must not serve: its last words go to the supervisor's log
// (its stderr is /dev/null), then it aborts.
[[noreturn]] void Die(Reporter& reporter, const std::string& what) {
  reporter.Log(ipc::Severity::kError, what + ", aborting");
  std::abort();
}

void OnStop(int) { g_stop = 1; }

// SIGCHLD needs a handler, not SIG_IGN, so that the end of a session child interrupts the
// worker's wait for it and leaves a status to reap.
void OnChildExit(int) {}

// SIGTERM is the supervisor's "finish what you are doing and exit". It stays blocked except while
// the worker waits for a connection or for the next request, so an in-flight request always
// completes. Terminal signals belong to the supervisor, which decides for the whole pool.
sigset_t SetUpSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = OnChildExit;
  ::sigaction(SIGCHLD, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE}) ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_DFL;
  for (int sig : {SIGQUIT, SIGALRM}) ::sigaction(sig, &sa, nullptr);

  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  sigset_t wait_mask = all;
  sigdelset(&wait_mask, SIGTERM);
  return wait_mask;
}

ipc::PeerAddress PeerBytes(const sockaddr_storage& ss) {
  ipc::PeerAddress a{};
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    a[10] = a[11] = 0xff;
    std::memcpy(a.data() + 12, &sin->sin_addr, 4);
  } else if (ss.ss_family == AF_INET6) {
    std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16);
  }
  return a;
}

uint16_t PeerPort(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

std::string PeerName(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    return FormatHostPort(host, ntohs(sin->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
    return FormatHostPort(host, ntohs(sin6->sin6_port));
  }
  return host;
}

// Points stdin, stdout and stderr at /dev/null (opened before the chroot): whatever a compromised
// worker writes there reaches no log. Its log lines go through the report pipe, where the
// supervisor escapes them and prefixes its pid.
void SilenceStdio(UniqueFd dev_null) {
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (::dup2(dev_null.get(), fd) != fd) {
      std::fprintf(stderr, "backupd worker: cannot point descriptor %d at /dev/null: %s\n", fd,
                   std::strerror(errno));
      std::abort();
    }
  }
}

std::mt19937_64 SeededRng() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) {
    seed = static_cast<uint64_t>(::getpid()) ^
           static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  }
  return std::mt19937_64(seed);
}

class Worker {
 public:
  Worker(const WorkerArgs& args, const sigset_t& wait_mask)
      : args_(args),
        wait_mask_(wait_mask),
        child_wait_mask_(wait_mask),
        reporter_(args.report_fd, args.generation),
        rng_(SeededRng()),
        landlock_abi_(LandlockAbi()),
        auth_(args.monitor_fd, std::chrono::seconds(args.config->request_timeout)) {
    sigdelset(&child_wait_mask_, SIGCHLD);
    if (landlock_abi_ == 0) {
      reporter_.Log(ipc::Severity::kWarning,
                    "landlock unavailable (kernel ABI 0): sessions fall back to chroot + openat2 "
                    "confinement");
    }
    session_.handler.sys = &RealSys();
    session_.handler.max_file_size = args.config->max_file_size;
    session_.handler.min_rate = {std::chrono::seconds(args.config->header_timeout),
                                 args.config->min_rate};
    session_.handler.max_files_listed = args.config->max_files_listed;
    session_.handler.versions.keep_versions = args.config->keep_versions;
    session_.handler.versions.keep_days = args.config->keep_days;
    session_.handler.append_only_users = args.config->append_only_users;
    session_.handler.warn = [this](std::string_view line) {
      reporter_.Log(ipc::Severity::kWarning, line);
    };
    session_.handler.rng = &rng_;
    session_.handler.folders = &auth_;
    session_.auth = &auth_;
    session_.idle_timeout = std::chrono::seconds(args.config->idle_timeout);
    session_.header_timeout = std::chrono::seconds(args.config->header_timeout);
    session_.request_timeout = std::chrono::seconds(args.config->request_timeout);
    session_.wait_mask = &wait_mask_;
    session_.report = [this](const ipc::Report& r) { reporter_.Request(r); };
    session_.stalled = [this](const std::string& peer, const std::string& what) {
      reporter_.Stalled(peer, what);
    };
    session_.stopping = [] { return g_stop != 0; };
    session_.enter_folder = [this](Connection& conn, int folder_fd) {
      return EnterFolder(conn, folder_fd);
    };
  }

  void Run() {
    const conf::Config& c = *args_.config;
    reporter_.State(ipc::WorkerState::kIdle);
    uint32_t served = 0;
    std::vector<pollfd> fds;
    for (int fd : args_.listen_fds) fds.push_back({fd, POLLIN, 0});
    for (int fd : args_.tls_listen_fds) fds.push_back({fd, POLLIN, 0});
    const size_t first_tls = args_.listen_fds.size();
    while (!g_stop) {
      int n = ::ppoll(fds.data(), fds.size(), nullptr, &wait_mask_);
      if (n < 0) {
        if (errno == EINTR) continue;
        reporter_.Log(ipc::Severity::kError, "worker poll failed: " + std::to_string(errno));
        return;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if (g_stop || (fds[i].revents & POLLIN) == 0) continue;
        if (Accept(fds[i].fd, i >= first_tls)) ++served;
      }
      if (c.workers_max_requests != 0 && served >= c.workers_max_requests) return;
    }
  }

 private:
  // Accepts and serves one connection; false when there was none to take (another worker won).
  bool Accept(int listen_fd, bool tls) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    UniqueFd fd(
        ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        reporter_.Log(ipc::Severity::kError, "accept: out of descriptors or memory");
        timespec pause = ToTimespec(kAcceptRetryPause);
        ::ppoll(nullptr, 0, &pause, &wait_mask_);
      }
      return false;
    }
    const std::string peer = PeerName(ss);
    std::unique_ptr<Transport> transport;
    if (tls) {
      Result<std::unique_ptr<TlsTransport>> t = TlsTransport::Create(std::move(fd), args_.tls);
      if (!t.ok()) {
        reporter_.Log(ipc::Severity::kError, "dropped " + peer + ": " + t.status().message());
        return true;
      }
      transport = std::move(*t);
    } else {
      transport = std::make_unique<PlainTransport>(std::move(fd));
    }
    size_t same_peer = args_.peers->Claim(args_.slot, PeerBytes(ss));
    std::optional<Connection> conn;
    conn.emplace(std::move(transport), peer);
    reporter_.State(ipc::WorkerState::kBusy, conn->peer());
    uint32_t limit = args_.config->max_connections_per_ip;
    if (limit != 0 && same_peer > limit) {
      Refuse(*conn, same_peer);
    } else {
      auth_.BeginConnection(ipc::MonitorPeer{PeerBytes(ss), PeerPort(ss), {}});
      Serve(*conn);
      if (session_child_) {
        // The session is over: close the connection (TLS says goodbye), and the child's life.
        conn.reset();
        ::_exit(0);
      }
      // A monitor that is gone takes this worker with it (PR_SET_PDEATHSIG): nothing to do here.
      (void)auth_.EndConnection();
    }
    args_.peers->Release(args_.slot);
    reporter_.State(ipc::WorkerState::kIdle);
    return true;
  }

  // Over max_connections_per_ip: the refusal in the protocol the client speaks, read from its
  // first bytes (a second at most), then the connection closes. v2 gets 1015 (busy, try later)
  // with a message saying why; v1, and anything unread, a general error (1003), which a v1 client
  // reads as the answer to its first request.
  void Refuse(Connection& conn, size_t count) {
    const Deadline deadline = Clock::now() + std::chrono::seconds(1);
    const std::string why = std::to_string(count - 1) + " connections already open from " +
                            conn.peer() + " (max_connections_per_ip)";
    std::string bytes = protocol::EncodeResponsePrefix(
        static_cast<uint16_t>(protocol::ResponseCode::kError), {}, 0);
    if (conn.Handshake(deadline, nullptr).ok()) {
      std::array<uint8_t, protocol::v2::kSniffSize> first{};
      size_t have = 0;
      while (have < first.size()) {
        Result<size_t> got = conn.ReadSome(first.data() + have, first.size() - have, deadline);
        if (!got.ok() || *got == 0) break;
        have += *got;
      }
      if (have == first.size() && protocol::v2::Sniff(first) == protocol::v2::Sniffed::kV2) {
        bytes = protocol::v2::EncodeMessageResponse(protocol::v2::ResponseCode::kBusy, {},
                                                    why + "; try later");
      }
      (void)conn.WriteAll(bytes.data(), bytes.size(), deadline);
    }
    reporter_.Log(ipc::Severity::kWarning, "refused " + conn.peer() + ": " + why);
  }

  void Serve(Connection& conn) {
    const conf::Config& c = *args_.config;
    // The handshake gets the time a request's first byte would: a client that stalls it is
    // dropped as a silent one is.
    const auto first_byte = std::chrono::seconds(std::min(c.idle_timeout, c.header_timeout));
    const Deadline deadline = Clock::now() + first_byte;
    Status hs = conn.Handshake(deadline, &wait_mask_);
    // Only the stop's signal sets g_stop, and it cuts the wait short: a connection already
    // accepted still gets its first request served (ServeConnection), its handshake first.
    if (!hs.ok() && g_stop) {
      hs = conn.Handshake(std::min(deadline, Clock::now() + kStopGrace), nullptr);
    }
    if (!hs.ok()) {
      if (!g_stop) {
        // One that ran out of time is a staller: warned about, as the session warns of its own.
        reporter_.Log(
            hs.code() == Status::Code::kTimeout ? ipc::Severity::kWarning : ipc::Severity::kInfo,
            "TLS handshake with " + conn.peer() + " failed: " + hs.message());
      }
      return;
    }
    ServeConnection(conn, session_);
  }

  // The connection has its user's folder: fork the session child that serves the rest of it, and
  // stay busy until it is gone, so the pool's limits still bound the sessions. True in the child.
  bool EnterFolder(Connection& conn, int folder_fd) {
#ifdef BACKUPD_TEST_HOOKS
    if (attack_target_ && !attack_saved_.valid()) {
      attack_saved_ = UniqueFd(::fcntl(folder_fd, F_DUPFD_CLOEXEC, 0));
    }
    if (forbidden_call_ && !forbidden_call_->in_session_child &&
        IsFolderOf(folder_fd, forbidden_call_->user)) {
      reporter_.Log(ipc::Severity::kWarning, MakeForbiddenCall(forbidden_call_->call));
    }
#endif
    const pid_t worker = ::getpid();
    const pid_t child = ::fork();
    if (child < 0) {
      reporter_.Log(
          ipc::Severity::kError,
          "dropped " + conn.peer() + ": cannot fork its session child: " + std::strerror(errno));
      return false;
    }
    if (child == 0) {
      BecomeSessionChild(conn, folder_fd, worker);
      return true;
    }
    conn.HandOff();
    WaitForSessionChild(child);
    return false;
  }

  // Keeps only what serving this connection takes — the socket, the user's folder, the report
  // pipe, and stdio (so no file the session opens can land on descriptor 2) — then fences the
  // process to the folder. Landlock checks at open time, so anything left open would stay usable.
  void BecomeSessionChild(const Connection& conn, int folder_fd, pid_t worker) {
    // The worker may die by SIGKILL (an immediate stop): the session goes with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != worker) ::_exit(0);
    Status closed = CloseAllBut(
        {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, conn.fd(), folder_fd, args_.report_fd});
    if (!closed.ok()) Die(reporter_, "session child: " + closed.ToString());
    if (landlock_abi_ > 0) {
      Status fenced = RestrictToFolder(folder_fd);
      if (!fenced.ok()) Die(reporter_, "session child cannot fence itself: " + fenced.ToString());
    }
    session_child_ = true;
#ifdef BACKUPD_TEST_HOOKS
    if (attack_target_) {
      for (const std::string& line : AttackOtherUser(folder_fd, args_.config->storage,
                                                     *attack_target_, attack_saved_.get())) {
        reporter_.Log(ipc::Severity::kWarning, line);
      }
    }
#endif
    // A session serves one connection and forks nothing; its filter stacks on the worker's.
    Status limited = LimitProcesses(0);
    if (!limited.ok()) Die(reporter_, "session child: " + limited.ToString());
    Status filtered = InstallSyscallFilter(FilterFor::kSessionChild);
    if (!filtered.ok()) Die(reporter_, "session child: " + filtered.ToString());
#ifdef BACKUPD_TEST_HOOKS
    if (forbidden_call_ && forbidden_call_->in_session_child &&
        IsFolderOf(folder_fd, forbidden_call_->user)) {
      reporter_.Log(ipc::Severity::kWarning, MakeForbiddenCall(forbidden_call_->call));
    }
#endif
  }

  // Waits for the session child; a graceful stop meant for the worker is passed on to it (it ends
  // the connection after the request in flight, as the worker would have).
  void WaitForSessionChild(pid_t child) {
    bool passed_on = false;
    int status = 0;
    for (;;) {
      pid_t done = ::waitpid(child, &status, WNOHANG);
      if (done == child || (done < 0 && errno != EINTR)) break;
      if (g_stop && !passed_on) {
        ::kill(child, SIGTERM);
        passed_on = true;
      }
      ::ppoll(nullptr, 0, nullptr, &child_wait_mask_);
    }
    if (WIFSIGNALED(status)) {
      reporter_.Log(ipc::Severity::kError,
                    "session child " + std::to_string(child) + " " + DescribeExit(status));
    }
  }

  const WorkerArgs& args_;
  sigset_t wait_mask_;
  sigset_t child_wait_mask_;  // wait_mask_ and SIGCHLD: while a session child serves
  Reporter reporter_;
  std::mt19937_64 rng_;
  const int landlock_abi_;
  bool session_child_ = false;
#ifdef BACKUPD_TEST_HOOKS
  const std::optional<std::string> attack_target_ = AttackHookTarget();
  // The first folder this worker was handed, kept as a compromised worker could keep it.
  UniqueFd attack_saved_;
  const std::optional<ForbiddenCall> forbidden_call_ = ForbiddenCallTarget();
#endif
  MonitorAuthenticator auth_;
  SessionContext session_;
};

}  // namespace

void WorkerMain(const WorkerArgs& args) {
  // If the supervisor dies, so do we; it may already have died before the prctl.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != args.supervisor) ::_exit(0);
  sigset_t wait_mask = SetUpSignals();
  PreloadBeforeFilter();
  UniqueFd dev_null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  // Until the drop, stderr is still the supervisor's: a failed drop is told there.
  ConfineAndDropPrivileges(args.config->storage, args.identity);
  SilenceStdio(std::move(dev_null));
  // Changing credentials cleared the death signal (prctl(2)): set it again, and check again.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != args.supervisor) ::_exit(0);
  Reporter reporter(args.report_fd, args.generation);
  Status limited = LimitProcesses(kWorkerProcessLimit);
  if (!limited.ok()) Die(reporter, "worker: " + limited.ToString());
  Status filtered = InstallSyscallFilter(FilterFor::kWorker);
  if (!filtered.ok()) Die(reporter, "worker: " + filtered.ToString());
  // Twice the longest request: no upload of another node's can still be running after that.
  SetUploadNode(args.config->node_name, 2 * int64_t{args.config->request_timeout});
  Worker(args, wait_mask).Run();
  ::_exit(0);
}

}  // namespace backupd::worker
