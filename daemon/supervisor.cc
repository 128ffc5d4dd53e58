// supervisor (root): the loop — waits for reports, status requests and signals, and in each turn
// reaps, acts on signals, sizes the pool and writes the metrics.
#include "daemon/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/timespec.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/signals.h"

namespace backupd::daemon {

Supervisor::Supervisor(SupervisorSetup setup, ipc::PeerTable peers, Monitor monitor)
    : s_(std::move(setup)), peers_(std::move(peers)), monitor_(std::move(monitor)) {
  wait_mask_ = s_.wait_mask;
  board_.supervisor_pid = ::getpid();
  board_.started = Clock::now();
  board_.started_at = std::chrono::system_clock::now();
}

void Supervisor::MaintainPool() {
  const conf::Config& c = s_.config;
  PoolDecision d = SizePool(board_, c, pool_, Clock::now(), throttle_until_);
  pool_ = d.next;
  // A failed fork throttles: the rest of this turn's forks wait for it.
  for (size_t i = 0; i < d.fork && Clock::now() >= throttle_until_; ++i) Spawn();
  if (d.max_reached) {
    BACKUPD_LOG(kWarning) << "reached workers.max (" << c.workers_max
                          << "): new connections wait in the listen backlog";
    ++board_.counters.max_reached;
  }
  if (d.limit_reached) {
    BACKUPD_LOG(kWarning) << "reached the limit of " << WorkerProcessLimit(c)
                          << " worker processes (2 x workers.max, all generations): no fork until "
                             "workers of earlier generations finish their requests";
  }
  for (pid_t pid : d.retire) {
    board_.workers.at(pid).stopping = true;
    ::kill(pid, SIGTERM);
    BACKUPD_LOG(kDebug) << "retiring idle worker " << pid;
  }
}

void Supervisor::WriteMetrics() {
  if (s_.config.metrics_file.empty()) return;
  // 0644 whatever the umask: node_exporter reads it as another user. Its temp name does not end
  // in .prom, so the textfile collector never reads a half-written file.
  Status s = WriteFileAtomically(s_.config.metrics_file, RenderMetrics(board_), 0644);
  if (!s.ok()) BACKUPD_LOG(kWarning) << "metrics: " << s.message();
}

void Supervisor::ServeMonitor(pid_t pid) {
  Status s = monitor_.Serve(pid, Clock::now());
  if (s.ok()) return;
  monitor_.Remove(pid);
  if (s.code() == Status::Code::kClosed) return;
  // Untrusted gossip, as a report is: the worker goes, the supervisor stays.
  BACKUPD_LOG(kError) << "worker " << pid << " broke the monitor protocol (" << s.message()
                      << ") -- killing it";
  ::kill(pid, SIGKILL);
}

int Supervisor::Run() {
  // The first spare rules run a tick after the floor is started, as workers report in.
  pool_.next_tick = Clock::now() + kPoolTick;
  MaintainPool();
  for (;;) {
    // What each polled descriptor is: the status socket (pid 0), a report pipe or a monitor
    // channel of worker pid.
    struct Owner {
      pid_t pid;
      bool monitor;
    };
    std::vector<pollfd> fds;
    std::vector<Owner> owners;
    fds.push_back({s_.status.fd(), POLLIN, 0});
    owners.push_back({0, false});
    for (auto& [pid, w] : board_.workers) {
      if (!w.report_fd.valid()) continue;
      fds.push_back({w.report_fd.get(), POLLIN, 0});
      owners.push_back({pid, false});
    }
    for (auto [pid, fd] : monitor_.Channels()) {
      fds.push_back({fd, POLLIN, 0});
      owners.push_back({pid, true});
    }
    const timespec timeout = ToTimespec(pool_.next_tick - Clock::now());
    int n = ::ppoll(fds.data(), fds.size(), &timeout, &wait_mask_);
    Signals sig = TakeSignals();
    // A reload before any request of this turn: `backupd user add` signals before its user's
    // client can connect, so the login that follows must already find the new user.
    if (sig.reload) {
      Reload();
      ReloadUsers();
    }
    if (n > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (owners[i].pid == 0) {
          s_.status.ServePending(board_, Clock::now());
          continue;
        }
        if (owners[i].monitor) {
          ServeMonitor(owners[i].pid);
          continue;
        }
        auto it = board_.workers.find(owners[i].pid);
        if (it != board_.workers.end()) ReadReports(it->second);
      }
    }
    ReapChildren();
    if (sig.quit) return Shutdown(false);
    if (sig.stop) return Shutdown(true);
    if (sig.reopen) {
      Status s = ReopenLogs();
      if (s.ok()) {
        BACKUPD_LOG(kInfo) << "log reopened";
      } else {
        BACKUPD_LOG(kError) << "cannot reopen the log: " << s.message();
      }
    }
    MaintainPool();
    if (Clock::now() >= next_metrics_) {
      WriteMetrics();
      next_metrics_ = Clock::now() + kMetricsInterval;
    }
  }
}

}  // namespace backupd::daemon
