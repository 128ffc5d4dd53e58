// supervisor (root): SIGTERM/SIGINT (let requests finish, up to shutdown_timeout) and SIGQUIT
// (kill every worker now) — stop listening, stop the workers, reap them all.
#include <poll.h>
#include <signal.h>

#include "base/timespec.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/signals.h"
#include "daemon/supervisor.h"

namespace backupd::daemon {

int Supervisor::Shutdown(bool graceful) {
  BACKUPD_LOG(kInfo) << (graceful ? "stopping: letting requests finish" : "stopping now");
  s_.listeners.clear();  // ours close now; each worker's copies close as it exits
  s_.tls_listeners.clear();
  StopWorkers(graceful ? SIGTERM : SIGKILL, false);
  const auto deadline = Clock::now() + std::chrono::seconds(s_.config.shutdown_timeout);
  bool killed = !graceful;
  while (!board_.workers.empty()) {
    std::vector<pollfd> fds;
    for (auto& [pid, w] : board_.workers) {
      if (w.report_fd.valid()) fds.push_back({w.report_fd.get(), POLLIN, 0});
    }
    const timespec tick = ToTimespec(kShutdownPoll);
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
  // Stopped on purpose: nothing should go on serving the last values (see RemoveMetricsFile).
  Status removed = RemoveMetricsFile(s_.config.metrics_file);
  if (!removed.ok()) BACKUPD_LOG(kWarning) << "metrics: " << removed.message();
  BACKUPD_LOG(kInfo) << "stopped";
  return 0;
}

}  // namespace backupd::daemon
