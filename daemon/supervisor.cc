// supervisor (root): spawn, reap, throttle, reports, reload and shutdown.
#include "daemon/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "daemon/log.h"
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

const char* OpName(uint8_t op) {
  switch (static_cast<protocol::Op>(op)) {
    case protocol::Op::kBackup:
      return "backup";
    case protocol::Op::kRestore:
      return "restore";
    case protocol::Op::kDelete:
      return "delete";
    case protocol::Op::kList:
      return "list";
  }
  return "unknown-op";
}

// Client-chosen bytes (file names) are escaped so a name cannot forge or split a log line.
std::string Printable(const char* s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char* p = s; *p != '\0'; ++p) {
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

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

Supervisor::Supervisor(SupervisorSetup setup) : s_(std::move(setup)) {
  wait_mask_ = InstallSignalHandlers();
}

size_t Supervisor::LiveWorkers(bool current_generation_only) const {
  size_t n = 0;
  for (const auto& [pid, w] : workers_) {
    if (w.stopping) continue;
    if (current_generation_only && w.generation != generation_) continue;
    ++n;
  }
  return n;
}

void Supervisor::Spawn() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    BACKUPD_LOG(kError) << "cannot create a report pipe: " << std::strerror(errno);
    return;
  }
  pid_t self = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    BACKUPD_LOG(kError) << "fork failed: " << std::strerror(errno) << " -- throttling";
    ::close(p[0]);
    ::close(p[1]);
    throttle_delay_ = std::clamp(throttle_delay_ * 2, milliseconds(1000), kMaxThrottle);
    throttle_until_ = Clock::now() + throttle_delay_;
    return;
  }
  if (pid == 0) {
    worker::WorkerArgs args;
    args.config = &s_.config;
    for (const Listener& l : s_.listeners) args.listen_fds.push_back(l.fd);
    args.report_fd = p[1];
    args.generation = generation_;
    args.supervisor = self;
    args.identity = s_.identity;
    std::vector<int> keep = args.listen_fds;
    keep.push_back(p[1]);
    CloseAllBut(keep);
    worker::WorkerMain(args);
  }
  ::close(p[1]);
  WorkerSlot slot;
  slot.pid = pid;
  slot.generation = generation_;
  slot.report_fd = p[0];
  slot.started = Clock::now();
  workers_[pid] = slot;
  BACKUPD_LOG(kDebug) << "started worker " << pid << " (generation " << generation_ << ")";
}

void Supervisor::SpawnWorkers() {
  size_t target = s_.config.workers;
  while (LiveWorkers(true) < target) {
    if (Clock::now() < throttle_until_) return;
    Spawn();
    if (Clock::now() < throttle_until_) return;  // the fork itself failed
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
      w.peer = w.state == ipc::WorkerState::kBusy ? r.peer : "";
      if (w.state == ipc::WorkerState::kIdle) {
        // A worker that got as far as serving proves the set-up works: lift any throttle.
        throttle_delay_ = milliseconds(0);
        throttle_logged_ = false;
      }
      break;
    case ipc::ReportType::kRequest:
      ++w.requests;
      w.bytes_in += r.bytes_in;
      w.bytes_out += r.bytes_out;
      w.user_id = r.user_id;
      w.op = r.op;
      BACKUPD_LOG(kInfo) << "access " << Printable(r.peer) << " user=" << r.user_id
                         << " op=" << OpName(r.op) << " name=\"" << Printable(r.text)
                         << "\" status=" << r.status << " in=" << r.bytes_in
                         << " out=" << r.bytes_out << " us=" << r.micros << " pid=" << w.pid
                         << (r.detail[0] != '\0' ? " error=\"" + Printable(r.detail) + "\"" : "");
      break;
    case ipc::ReportType::kLog: {
      auto level = static_cast<conf::LogLevel>(r.severity);
      BOOST_LOG_SEV(GlobalLogger(), level) << "worker " << w.pid << ": " << Printable(r.text);
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
    auto it = workers_.find(pid);
    if (it == workers_.end()) continue;
    WorkerSlot& w = it->second;
    ReadReports(w);
    if (w.report_fd >= 0) ::close(w.report_fd);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (clean || w.stopping) {
      BACKUPD_LOG(kDebug) << "worker " << pid << " " << DescribeExit(status);
    } else if (w.state == ipc::WorkerState::kStarting) {
      // Died before it could serve: likely a set-up fault that the next fork would repeat.
      throttle_delay_ = std::clamp(throttle_delay_ * 2, milliseconds(1000), kMaxThrottle);
      throttle_until_ = Clock::now() + throttle_delay_;
      if (!throttle_logged_) {
        BACKUPD_LOG(kError) << "worker " << pid << " " << DescribeExit(status)
                            << " before serving -- throttling worker startup";
        throttle_logged_ = true;
      }
    } else {
      BACKUPD_LOG(kWarning) << "worker " << pid << " " << DescribeExit(status)
                            << "; starting a replacement";
    }
    workers_.erase(it);
  }
}

void Supervisor::StopWorkers(int sig, bool only_old_generation) {
  for (auto& [pid, w] : workers_) {
    if (only_old_generation && w.generation == generation_) continue;
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
  Status logging = SetUpLogging(next);
  if (!logging.ok()) BACKUPD_LOG(kError) << "keeping the previous log: " << logging.message();
  s_.config = next;
  s_.identity = *identity;
  ++generation_;
  throttle_delay_ = milliseconds(0);
  throttle_until_ = Clock::time_point();
  StopWorkers(SIGTERM, true);
  BACKUPD_LOG(kInfo) << "configuration reloaded (generation " << generation_ << ")";
}

int Supervisor::Shutdown(bool graceful) {
  BACKUPD_LOG(kInfo) << (graceful ? "stopping: letting requests finish" : "stopping now");
  CloseAll(&s_.listeners);
  StopWorkers(graceful ? SIGTERM : SIGKILL, false);
  auto deadline = Clock::now() + std::chrono::seconds(graceful ? s_.config.shutdown_timeout : 5);
  bool killed = !graceful;
  while (!workers_.empty()) {
    std::vector<pollfd> fds;
    for (auto& [pid, w] : workers_) {
      if (w.report_fd >= 0) fds.push_back({w.report_fd, POLLIN, 0});
    }
    timespec tick{0, 100 * 1000 * 1000};
    ::ppoll(fds.data(), fds.size(), &tick, &wait_mask_);
    Signals sig = TakeSignals();
    for (auto& [pid, w] : workers_) ReadReports(w);
    ReapChildren();
    if (!killed && (sig.quit || Clock::now() >= deadline)) {
      if (!workers_.empty()) {
        BACKUPD_LOG(kWarning) << "killing " << workers_.size() << " worker(s) still busy";
      }
      StopWorkers(SIGKILL, false);
      killed = true;
    }
  }
  BACKUPD_LOG(kInfo) << "stopped";
  return 0;
}

int Supervisor::Run() {
  SpawnWorkers();
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<pid_t> owners;
    for (auto& [pid, w] : workers_) {
      if (w.report_fd < 0) continue;
      fds.push_back({w.report_fd, POLLIN, 0});
      owners.push_back(pid);
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kLoopTick).count();
    timespec tick{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    int n = ::ppoll(fds.data(), fds.size(), &tick, &wait_mask_);
    if (n > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        auto it = workers_.find(owners[i]);
        if (it != workers_.end()) ReadReports(it->second);
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
    }
    SpawnWorkers();
  }
}

}  // namespace backupd::daemon
