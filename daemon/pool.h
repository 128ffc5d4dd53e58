// supervisor (root): pool sizing — a pure decision from the scoreboard, the config and the time.
// Nothing here forks or signals; the loop (supervisor.cc) carries the decision out.
#ifndef BACKUPD_DAEMON_POOL_H_
#define BACKUPD_DAEMON_POOL_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <vector>

#include "conf/config.h"
#include "daemon/scoreboard.h"

namespace backupd::daemon {

// What pool sizing remembers from one call to the next.
struct PoolState {
  std::chrono::steady_clock::time_point next_tick;  // when the spare rules run next
  unsigned spawn_rate = 1;    // spare-driven forks allowed at the next tick, doubling while short
  bool max_warned = false;    // "reached workers.max" was said for the current episode
  bool limit_warned = false;  // "reached the worker process limit" was said for this episode
};

// What the supervisor is to do now.
struct PoolDecision {
  size_t fork = 0;             // workers to start; stop early if a failed fork throttles
  std::vector<pid_t> retire;   // idle workers to tell to stop, oldest idle first
  bool max_reached = false;    // a new episode of every worker busy at workers.max: say so once
  bool limit_reached = false;  // a new episode of forks refused at WorkerProcessLimit: say so once
  PoolState next;              // to pass to the next call
};

// The hard limit on worker processes of every generation together, stopping ones included:
// 2 * workers.max, room for a full pool of the current generation beside as many of older ones
// still finishing their requests after reloads. A reload during long uploads therefore never
// multiplies the pool, and since workers.max <= conf::kMaxWorkers every worker finds a slot in the
// peer table (ipc::PeerTable::kSlots >= 2 * conf::kMaxWorkers, asserted in spawn.cc).
size_t WorkerProcessLimit(const conf::Config& config);

// Apache prefork's rules. Workers told to stop do not count: they are leaving. At every call the
// floor holds: fewer than `workers` live ones are topped up at once. At a tick (now >=
// state.next_tick): fewer than `min_spare` idle (or starting) ones fork up to spawn_rate more,
// never beyond `workers.max`, and the rate doubles up to kMaxSpawnRate (back to 1 once spares
// suffice); more than `max_spare` idle ones retire the one idle longest, never going below
// `workers`. While `now < throttle_until` (workers died young) nothing is forked. No decision
// forks past WorkerProcessLimit: the floor and the spares wait for old workers to exit.
PoolDecision SizePool(const Scoreboard& board, const conf::Config& config, const PoolState& state,
                      std::chrono::steady_clock::time_point now,
                      std::chrono::steady_clock::time_point throttle_until);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_POOL_H_
