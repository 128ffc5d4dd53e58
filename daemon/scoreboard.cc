// supervisor (root): names for the scoreboard's values.
#include "daemon/scoreboard.h"

namespace backupd::daemon {

WorkerCounts CountWorkers(const Scoreboard& board) {
  WorkerCounts n;
  for (const auto& [pid, w] : board.workers) {
    if (w.stopping) ++n.stopping;
    switch (w.state) {
      case ipc::WorkerState::kIdle:
        ++n.idle;
        break;
      case ipc::WorkerState::kBusy:
        ++n.busy;
        break;
      case ipc::WorkerState::kStarting:
        ++n.starting;
        break;
    }
  }
  return n;
}

const char* StateName(ipc::WorkerState state) {
  switch (state) {
    case ipc::WorkerState::kStarting:
      return "starting";
    case ipc::WorkerState::kIdle:
      return "idle";
    case ipc::WorkerState::kBusy:
      return "busy";
  }
  return "unknown";
}

}  // namespace backupd::daemon
