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

Supervisor::Supervisor(SupervisorSetup setup, ipc::PeerTable peers)
    : s_(std::move(setup)), peers_(std::move(peers)) {
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

int Supervisor::Run() {
  // The first spare rules run a tick after the floor is started, as workers report in.
  pool_.next_tick = Clock::now() + kPoolTick;
  MaintainPool();
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<pid_t> owners;
    fds.push_back({s_.status.fd(), POLLIN, 0});
    owners.push_back(0);
    for (auto& [pid, w] : board_.workers) {
      if (!w.report_fd.valid()) continue;
      fds.push_back({w.report_fd.get(), POLLIN, 0});
      owners.push_back(pid);
    }
    const timespec timeout = ToTimespec(pool_.next_tick - Clock::now());
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
