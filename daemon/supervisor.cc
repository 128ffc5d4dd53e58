// supervisor (root): spawn, reap, throttle, reports, reload and shutdown.
#include "daemon/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/atomic_file.h"
#include "base/text.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/preflight.h"
#include "daemon/signals.h"
#include "protocol/wire.h"
#include "worker/worker_main.h"

namespace backupd::daemon {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMaxThrottle{32000};
constexpr milliseconds kLoopTick{1000};
constexpr std::chrono::seconds kMetricsInterval{5};

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  }
  return "ended";
}

bool SameListen(const std::vector<conf::ListenAddress>& a,
                const std::vector<conf::ListenAddress>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port) return false;
  }
  return true;
}

// A worker must hold only its listeners, its report pipe and stdio: not the other workers'
// pipes, not a log file, not a listener retired by a reload.
void CloseAllBut(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned next = 3;
  for (int fd : keep) {
    if (fd < 3) continue;
    if (static_cast<unsigned>(fd) > next) ::close_range(next, static_cast<unsigned>(fd) - 1, 0);
    next = static_cast<unsigned>(fd) + 1;
  }
  ::close_range(next, ~0U, 0);
}

}  // namespace

Supervisor::Supervisor(SupervisorSetup setup, ipc::PeerTable peers)
    : s_(std::move(setup)), peers_(std::move(peers)) {
  wait_mask_ = InstallSignalHandlers();
  board_.supervisor_pid = ::getpid();
  board_.started = Clock::now();
  board_.started_at = std::chrono::system_clock::now();
}

size_t Supervisor::FreeSlotIndex() const {
  std::vector<bool> used(ipc::PeerTable::kSlots, false);
  for (const auto& [pid, w] : board_.workers) used[w.index] = true;
  for (size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) return i;
  }
  return used.size();  // unreachable: workers.max is far below kSlots
}

void Supervisor::Throttle() {
  throttle_delay_ = std::clamp(throttle_delay_ * 2, milliseconds(1000), kMaxThrottle);
  throttle_until_ = Clock::now() + throttle_delay_;
  ++board_.counters.throttles;
}

void Supervisor::Spawn() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    BACKUPD_LOG(kError) << "cannot create a report pipe: " << std::strerror(errno);
    Throttle();
    return;
  }
  size_t index = FreeSlotIndex();
  peers_.Release(index);
  pid_t self = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    BACKUPD_LOG(kError) << "fork failed: " << std::strerror(errno) << " -- throttling";
    ::close(p[0]);
    ::close(p[1]);
    Throttle();
    return;
  }
  if (pid == 0) {
    worker::WorkerArgs args;
    args.config = &s_.config;
    for (const Listener& l : s_.listeners) args.listen_fds.push_back(l.fd);
    args.report_fd = p[1];
    args.generation = board_.generation;
    args.supervisor = self;
    args.identity = s_.identity;
    args.peers = &peers_;
    args.slot = index;
    std::vector<int> keep = args.listen_fds;
    keep.push_back(p[1]);
    CloseAllBut(keep);
    worker::WorkerMain(args);
  }
  ::close(p[1]);
  WorkerSlot slot;
  slot.pid = pid;
  slot.generation = board_.generation;
  slot.report_fd = p[0];
  slot.index = index;
  slot.started = slot.state_since = Clock::now();
  board_.workers[pid] = slot;
  ++board_.counters.workers_started;
  BACKUPD_LOG(kDebug) << "started worker " << pid << " (generation " << board_.generation << ")";
}

void Supervisor::MaintainPool(bool tick) {
  const conf::Config& c = s_.config;
  // Workers told to stop no longer count: they are leaving.
  size_t live = 0, idle = 0;
  for (const auto& [pid, w] : board_.workers) {
    if (w.stopping) continue;
    ++live;
    if (w.state != ipc::WorkerState::kBusy) ++idle;
  }
  bool throttled = Clock::now() < throttle_until_;
  // The floor: replace dead workers at once, not at the next tick.
  while (!throttled && live < c.workers) {
    Spawn();
    ++live;
    ++idle;
    throttled = Clock::now() < throttle_until_;
  }
  if (!tick) return;

  if (idle < c.workers_min_spare && live < c.workers_max) {
    size_t want = std::min<size_t>({spawn_rate_, c.workers_min_spare - idle, c.workers_max - live});
    for (size_t i = 0; i < want && !throttled; ++i) {
      Spawn();
      throttled = Clock::now() < throttle_until_;
    }
    spawn_rate_ = std::min(spawn_rate_ * 2, 32u);
  } else {
    spawn_rate_ = 1;
  }
  if (idle == 0 && live >= c.workers_max) {
    if (!max_warned_) {
      BACKUPD_LOG(kWarning) << "reached workers.max (" << c.workers_max
                            << "): new connections wait in the listen backlog";
      ++board_.counters.max_reached;
      max_warned_ = true;
    }
  } else if (idle > 0) {
    max_warned_ = false;
  }
  if (idle > c.workers_max_spare && live > c.workers) {
    // Retire the idle worker that has been idle longest, one per tick, as Apache does.
    WorkerSlot* oldest = nullptr;
    for (auto& [pid, w] : board_.workers) {
      if (w.stopping || w.state != ipc::WorkerState::kIdle) continue;
      if (oldest == nullptr || w.state_since < oldest->state_since) oldest = &w;
    }
    if (oldest != nullptr) {
      oldest->stopping = true;
      ::kill(oldest->pid, SIGTERM);
      BACKUPD_LOG(kDebug) << "retiring idle worker " << oldest->pid;
    }
  }
}

void Supervisor::HandleReport(WorkerSlot& w, const ipc::Report& r) {
  Status valid = ipc::Validate(r);
  if (!valid.ok() || r.generation != w.generation) {
    BACKUPD_LOG(kWarning) << "worker " << w.pid << " sent a bad report ("
                          << (valid.ok() ? "wrong generation" : valid.message()) << "), ignored";
    return;
  }
  switch (static_cast<ipc::ReportType>(r.type)) {
    case ipc::ReportType::kState:
      w.state = static_cast<ipc::WorkerState>(r.state);
      w.state_since = Clock::now();
      w.peer = w.state == ipc::WorkerState::kBusy ? r.peer : "";
      if (w.state == ipc::WorkerState::kIdle && throttle_delay_.count() != 0) {
        // A worker that got as far as serving proves the set-up works: lift the throttle.
        throttle_delay_ = milliseconds(0);
        BACKUPD_LOG(kInfo) << "worker " << w.pid << " started fine; throttle lifted";
      }
      break;
    case ipc::ReportType::kRequest: {
      ++w.requests;
      w.bytes_in += r.bytes_in;
      w.bytes_out += r.bytes_out;
      w.user_id = r.user_id;
      w.op = r.op;
      Counters& c = board_.counters;
      ++c.requests[{OpName(r.op), r.status}];
      c.bytes_in += r.bytes_in;
      c.bytes_out += r.bytes_out;
      BACKUPD_LOG(kInfo) << "access " << EscapeUntrusted(r.peer) << " user=" << r.user_id
                         << " op=" << OpName(r.op) << " name=\"" << EscapeUntrusted(r.text)
                         << "\" status=" << r.status << " in=" << r.bytes_in
                         << " out=" << r.bytes_out << " us=" << r.micros << " pid=" << w.pid
                         << (r.detail[0] != '\0' ? " error=\"" + EscapeUntrusted(r.detail) + "\""
                                                 : "");
      break;
    }
    case ipc::ReportType::kLog: {
      auto level = static_cast<conf::LogLevel>(r.severity);
      BOOST_LOG_SEV(GlobalLogger(), level) << "worker " << w.pid << ": " << EscapeUntrusted(r.text);
      break;
    }
  }
}

void Supervisor::ReadReports(WorkerSlot& w) {
  if (w.report_fd < 0) return;
  std::vector<ipc::Report> reports;
  Status s = ipc::ReadAvailable(w.report_fd, &reports);
  for (const ipc::Report& r : reports) HandleReport(w, r);
  if (s.code() == Status::Code::kInvalid) {
    BACKUPD_LOG(kWarning) << "worker " << w.pid << " sent a torn report";
  }
  if (s.code() == Status::Code::kClosed) {
    ::close(w.report_fd);
    w.report_fd = -1;
  }
}

void Supervisor::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = board_.workers.find(pid);
    if (it == board_.workers.end()) continue;
    WorkerSlot& w = it->second;
    ReadReports(w);
    if (w.report_fd >= 0) ::close(w.report_fd);
    // A killed worker cannot clear its own row of the peer table.
    peers_.Release(w.index);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean || (w.stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      BACKUPD_LOG(kDebug) << "worker " << pid << " " << DescribeExit(status);
    } else if (w.state == ipc::WorkerState::kStarting) {
      // Died before it could serve: likely a set-up fault that the next fork would repeat.
      ++board_.counters.workers_crashed;
      bool first = throttle_delay_.count() == 0;
      Throttle();
      if (first) {
        BACKUPD_LOG(kError) << "worker " << pid << " " << DescribeExit(status)
                            << " before serving -- throttling worker startup";
      }
    } else {
      ++board_.counters.workers_crashed;
      BACKUPD_LOG(kWarning) << "worker " << pid << " " << DescribeExit(status)
                            << "; starting a replacement";
    }
    board_.workers.erase(it);
  }
}

void Supervisor::StopWorkers(int sig, bool only_old_generation) {
  for (auto& [pid, w] : board_.workers) {
    if (only_old_generation && w.generation == board_.generation) continue;
    w.stopping = true;
    ::kill(pid, sig);
  }
}

void Supervisor::Reload() {
  Result<conf::Config> loaded = conf::LoadConfig(s_.command_line);
  Result<worker::Identity> identity =
      loaded.ok() ? ResolveIdentity(*loaded) : Result<worker::Identity>(loaded.status());
  Status ready = identity.ok() ? PrepareStorage(*loaded, *identity) : identity.status();
  if (!ready.ok()) {
    BACKUPD_LOG(kError) << "reload failed, still serving with the previous configuration: "
                        << ready.message();
    return;
  }
  conf::Config next = *loaded;
  if (!SameListen(next.listen, s_.config.listen)) {
    Result<std::vector<Listener>> bound =
        BindAll(next.listen, static_cast<int>(next.listen_backlog));
    if (!bound.ok()) {
      BACKUPD_LOG(kError) << "reload failed, still serving with the previous configuration: "
                          << bound.status().message();
      return;
    }
    // Old workers keep their own copies of the old sockets until they finish and exit.
    CloseAll(&s_.listeners);
    s_.listeners = *bound;
    for (const Listener& l : s_.listeners) BACKUPD_LOG(kInfo) << "listening on " << l.bound;
  }
  SetDeferAccept(s_.listeners, next.idle_timeout);
  Status logging = SetUpLogging(next, ChooseLogTarget(next, s_.command_line.foreground));
  if (!logging.ok()) BACKUPD_LOG(kError) << "keeping the previous log: " << logging.message();
  s_.config = next;
  s_.identity = *identity;
  ++board_.generation;
  ++board_.counters.reloads;
  throttle_delay_ = milliseconds(0);
  throttle_until_ = Clock::time_point();
  StopWorkers(SIGTERM, true);
  BACKUPD_LOG(kInfo) << "configuration reloaded (generation " << board_.generation << ")";
}

int Supervisor::Shutdown(bool graceful) {
  BACKUPD_LOG(kInfo) << (graceful ? "stopping: letting requests finish" : "stopping now");
  CloseAll(&s_.listeners);
  StopWorkers(graceful ? SIGTERM : SIGKILL, false);
  auto deadline = Clock::now() + std::chrono::seconds(graceful ? s_.config.shutdown_timeout : 5);
  bool killed = !graceful;
  while (!board_.workers.empty()) {
    std::vector<pollfd> fds;
    for (auto& [pid, w] : board_.workers) {
      if (w.report_fd >= 0) fds.push_back({w.report_fd, POLLIN, 0});
    }
    timespec tick{0, 100 * 1000 * 1000};
    ::ppoll(fds.data(), fds.size(), &tick, &wait_mask_);
    Signals sig = TakeSignals();
    for (auto& [pid, w] : board_.workers) ReadReports(w);
    ReapChildren();
    if (!killed && (sig.quit || Clock::now() >= deadline)) {
      if (!board_.workers.empty()) {
        BACKUPD_LOG(kWarning) << "killing " << board_.workers.size() << " worker(s) still busy";
      }
      StopWorkers(SIGKILL, false);
      killed = true;
    }
  }
  WriteMetrics();
  BACKUPD_LOG(kInfo) << "stopped";
  return 0;
}

void Supervisor::WriteMetrics() {
  if (s_.config.metrics_file.empty()) return;
  // 0644 whatever the umask: node_exporter reads it as another user. Its temp name does not end
  // in .prom, so the textfile collector never reads a half-written file.
  Status s = WriteFileAtomically(s_.config.metrics_file, RenderMetrics(board_), 0644);
  if (!s.ok()) BACKUPD_LOG(kWarning) << "metrics: " << s.message();
}

int Supervisor::Run() {
  MaintainPool(false);
  next_tick_ = Clock::now() + kLoopTick;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<pid_t> owners;
    fds.push_back({s_.status.fd(), POLLIN, 0});
    owners.push_back(0);
    for (auto& [pid, w] : board_.workers) {
      if (w.report_fd < 0) continue;
      fds.push_back({w.report_fd, POLLIN, 0});
      owners.push_back(pid);
    }
    auto left = std::max(next_tick_ - Clock::now(), Clock::duration::zero());
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec timeout{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    int n = ::ppoll(fds.data(), fds.size(), &timeout, &wait_mask_);
    if (n > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (owners[i] == 0) {
          s_.status.ServePending(board_, Clock::now());
          continue;
        }
        auto it = board_.workers.find(owners[i]);
        if (it != board_.workers.end()) ReadReports(it->second);
      }
    }
    Signals sig = TakeSignals();
    ReapChildren();
    if (sig.quit) return Shutdown(false);
    if (sig.stop) return Shutdown(true);
    if (sig.reload) Reload();
    if (sig.reopen) {
      Status s = ReopenLogs();
      if (!s.ok()) BACKUPD_LOG(kError) << "cannot reopen the log: " << s.message();
      BACKUPD_LOG(kInfo) << "log reopened";
    }
    bool tick = Clock::now() >= next_tick_;
    if (tick) next_tick_ = Clock::now() + kLoopTick;
    MaintainPool(tick);
    if (Clock::now() >= next_metrics_) {
      WriteMetrics();
      next_metrics_ = Clock::now() + kMetricsInterval;
    }
  }
}

}  // namespace backupd::daemon
