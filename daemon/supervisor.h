// supervisor (root): the Supervisor — the main loop and the state it keeps. Its jobs live in one
// file each: supervisor.cc (the loop), pool.cc (sizing), spawn.cc (fork, reap, throttle),
// reports.cc (worker reports, the access log), reload.cc, shutdown.cc, and monitor.cc answers
// the workers' login requests. It never reads from a client.
#ifndef BACKUPD_DAEMON_SUPERVISOR_H_
#define BACKUPD_DAEMON_SUPERVISOR_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "conf/config.h"
#include "daemon/listeners.h"
#include "daemon/monitor.h"
#include "daemon/pool.h"
#include "daemon/scoreboard.h"
#include "daemon/scoreboard_server.h"
#include "daemon/tls_context.h"
#include "ipc/peer_table.h"
#include "ipc/report.h"
#include "worker/privdrop.h"

namespace backupd::daemon {

// What the supervisor starts with; main() builds it before any worker exists.
struct SupervisorSetup {
  conf::CommandLine command_line;  // to re-read the config on SIGHUP
  conf::Config config;
  std::vector<Listener> listeners;
  std::vector<Listener> tls_listeners;
  TlsContext tls;  // empty without tls_listen; new workers inherit it through fork
  worker::Identity identity;
  ScoreboardServer status;  // `backupd status` connects here
  sigset_t wait_mask;       // from InstallSignalHandlers, called before the first socket was bound
};

// The pool follows Apache prefork: never fewer than `workers` processes, at least
// `workers.min_spare` idle ones (forking 1, 2, 4 ... per second while short), idle ones beyond
// `workers.max_spare` retired one per second, and never more than `workers.max`. A worker that
// dies before it could serve throttles forking (Postfix's "bad command startup").
class Supervisor {
 public:
  Supervisor(SupervisorSetup setup, ipc::PeerTable peers, Monitor monitor);
  // Runs until a stop signal; returns the process exit code.
  int Run();

 private:
  using Clock = std::chrono::steady_clock;

  // supervisor.cc: the loop, carrying out pool decisions, the metrics file.
  void MaintainPool();
  void WriteMetrics();
  // spawn.cc: child birth and death.
  void Spawn();
  void Throttle();
  void ReapChildren();
  void StopWorkers(int sig, bool only_old_generation);
  size_t FreeSlotIndex() const;
  // reports.cc: what workers say. Reads one turn's worth of reports (ipc::kMaxReportsPerTurn);
  // true if the pipe may hold more.
  bool ReadReports(WorkerSlot& slot);
  void HandleReport(WorkerSlot& slot, const ipc::Report& r);
  // The login monitor's requests from a worker; a worker breaking its protocol is killed.
  void ServeMonitor(pid_t pid);
  // reload.cc and shutdown.cc.
  void Reload();
  void ReloadUsers();
  int Shutdown(bool graceful);

  SupervisorSetup s_;
  ipc::PeerTable peers_;
  Monitor monitor_;
  sigset_t wait_mask_;
  Scoreboard board_;
  PoolState pool_;
  Clock::time_point next_metrics_;
  // Crash throttle: after a worker dies before serving, no fork before this time.
  Clock::time_point throttle_until_;
  std::chrono::milliseconds throttle_delay_{0};
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SUPERVISOR_H_
