// supervisor (root): the scoreboard — what the supervisor knows of its workers and of the
// requests they served, built from their (untrusted) reports. Read by status and metrics.
#ifndef BACKUPD_DAEMON_SCOREBOARD_H_
#define BACKUPD_DAEMON_SCOREBOARD_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "base/unique_fd.h"
#include "ipc/report.h"
#include "protocol/wire_v2.h"

namespace backupd::daemon {

// One live worker.
struct WorkerSlot {
  pid_t pid = 0;
  uint32_t generation = 0;
  UniqueFd report_fd;  // read end, non-blocking; empty once the worker closed it
  size_t index = 0;    // the worker's place in the shared per-connection table
  ipc::WorkerState state = ipc::WorkerState::kStarting;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point state_since;
  bool stopping = false;  // told to finish and exit (reload, retire, shutdown)
  uint64_t requests = 0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint32_t user_id = 0;  // of the last request
  uint8_t op = 0;        // of the last request (protocol op value)
  std::string peer;      // while busy
};

// Totals since the supervisor started (they survive reloads).
struct Counters {
  // (op name, status) -> requests, e.g. ("backup", 212).
  std::map<std::pair<std::string, uint16_t>, uint64_t> requests;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t workers_started = 0;
  uint64_t workers_crashed = 0;  // died by a signal or a non-zero exit while not told to stop
  uint64_t throttles = 0;        // times worker startup was throttled
  uint64_t max_reached = 0;      // episodes of every worker busy at workers.max
  uint64_t stalled = 0;          // clients cut off for being too slow (header_timeout, min_rate)
  uint64_t reloads = 0;
};

struct Scoreboard {
  std::map<pid_t, WorkerSlot> workers;
  Counters counters;
  uint32_t generation = 1;
  pid_t supervisor_pid = 0;
  std::chrono::system_clock::time_point started_at;
  std::chrono::steady_clock::time_point started;
};

// Live workers by state; `stopping` ones are also counted in their state.
struct WorkerCounts {
  size_t idle = 0;
  size_t busy = 0;
  size_t starting = 0;
  size_t stopping = 0;
};
WorkerCounts CountWorkers(const Scoreboard& board);

// The scoreboard names ops as the protocol does; v2's names are a superset of v1's, so a v2 login
// shows as auth-start/auth-finish instead of "unknown".
using protocol::v2::OpName;
const char* StateName(ipc::WorkerState state);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SCOREBOARD_H_
