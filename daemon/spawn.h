// supervisor (root): how a worker's death is judged and how long forking pauses after one — the
// pure part of spawning and reaping (spawn.cc), apart so it can be tested without processes.
#ifndef BACKUPD_DAEMON_SPAWN_H_
#define BACKUPD_DAEMON_SPAWN_H_

#include <chrono>
#include <string>

#include "daemon/scoreboard.h"

namespace backupd::daemon {

enum class WorkerExit {
  kExpected,      // exit 0 (max_requests reached, told to stop), or SIGKILLed after being told to
  kDiedStarting,  // failed before it could serve: the next fork would likely fail too
  kCrashed,       // failed while serving: replaced at once
};

// Judges a reaped worker by its wait status and what the scoreboard knew of it.
WorkerExit ClassifyExit(int wait_status, const WorkerSlot& worker);

// The pause before the next fork after one more worker died starting: kFirstThrottle, then double
// the previous one, at most kMaxThrottle.
std::chrono::milliseconds NextThrottleDelay(std::chrono::milliseconds previous);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SPAWN_H_
