// supervisor (root): the main loop — spawn, reap and throttle workers, read their reports,
// act on signals. It never reads from a client.
#ifndef BACKUPD_DAEMON_SUPERVISOR_H_
#define BACKUPD_DAEMON_SUPERVISOR_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "conf/config.h"
#include "daemon/listeners.h"
#include "ipc/report.h"
#include "worker/privdrop.h"

namespace backupd::daemon {

// One line of the scoreboard: what the supervisor knows of a live worker, from its reports.
struct WorkerSlot {
  pid_t pid = 0;
  uint32_t generation = 0;
  int report_fd = -1;  // read end, non-blocking
  ipc::WorkerState state = ipc::WorkerState::kStarting;
  std::chrono::steady_clock::time_point started;
  bool stopping = false;  // told to finish and exit (reload, retire, shutdown)
  uint64_t requests = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint32_t user_id = 0;
  uint8_t op = 0;
  std::string peer;
};

// Loads-once inputs the supervisor needs to (re)build its state.
struct SupervisorSetup {
  conf::CommandLine command_line;  // to re-read the config on SIGHUP
  conf::Config config;
  std::vector<Listener> listeners;
  worker::Identity identity;
};

class Supervisor {
 public:
  explicit Supervisor(SupervisorSetup setup);
  // Runs until a stop signal; returns the process exit code.
  int Run();

 private:
  void SpawnWorkers();
  void Spawn();
  void ReapChildren();
  void ReadReports(WorkerSlot& slot);
  void HandleReport(WorkerSlot& slot, const ipc::Report& r);
  void Reload();
  void StopWorkers(int sig, bool only_old_generation);
  int Shutdown(bool graceful);
  size_t LiveWorkers(bool current_generation_only) const;

  SupervisorSetup s_;
  sigset_t wait_mask_;
  uint32_t generation_ = 1;
  std::map<pid_t, WorkerSlot> workers_;
  // Crash throttle: after a worker dies before serving, no fork before this time.
  std::chrono::steady_clock::time_point throttle_until_;
  std::chrono::milliseconds throttle_delay_{0};
  bool throttle_logged_ = false;
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SUPERVISOR_H_
