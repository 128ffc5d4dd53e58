// supervisor (root): pool sizing, decided from the scoreboard alone.
#include "daemon/pool.h"

#include <algorithm>

#include "daemon/limits.h"

namespace backupd::daemon {

size_t WorkerProcessLimit(const conf::Config& c) { return 2 * size_t{c.workers_max}; }

namespace {

// Clips `d`'s forks to the room left under the hard limit, flagging the start of an episode.
void ApplyProcessLimit(const Scoreboard& board, const conf::Config& c, const PoolState& state,
                       PoolDecision* d) {
  const size_t limit = WorkerProcessLimit(c);
  const size_t room = board.workers.size() < limit ? limit - board.workers.size() : 0;
  if (d->fork > room) {
    d->fork = room;
    d->limit_reached = !state.limit_warned;
    d->next.limit_warned = true;
  } else if (d->fork < room) {
    d->next.limit_warned = false;
  }
}

}  // namespace

PoolDecision SizePool(const Scoreboard& board, const conf::Config& c, const PoolState& state,
                      std::chrono::steady_clock::time_point now,
                      std::chrono::steady_clock::time_point throttle_until) {
  PoolDecision d;
  d.next = state;
  size_t live = 0, idle = 0;
  for (const auto& [pid, w] : board.workers) {
    if (w.stopping) continue;
    ++live;
    if (w.state != ipc::WorkerState::kBusy) ++idle;
  }
  const bool throttled = now < throttle_until;
  // The floor: replace dead workers at once, not at the next tick.
  if (!throttled && live < c.workers) {
    d.fork = c.workers - live;
    live += d.fork;
    idle += d.fork;
  }
  if (now < state.next_tick) {
    ApplyProcessLimit(board, c, state, &d);
    return d;
  }
  d.next.next_tick = now + kPoolTick;

  if (idle < c.workers_min_spare && live < c.workers_max) {
    if (!throttled) {
      d.fork +=
          std::min<size_t>({state.spawn_rate, c.workers_min_spare - idle, c.workers_max - live});
    }
    d.next.spawn_rate = std::min(state.spawn_rate * 2, kMaxSpawnRate);
  } else {
    d.next.spawn_rate = 1;
  }
  if (idle == 0 && live >= c.workers_max) {
    d.max_reached = !state.max_warned;
    d.next.max_warned = true;
  } else if (idle > 0) {
    d.next.max_warned = false;
  }
  if (idle > c.workers_max_spare && live > c.workers) {
    // One per tick, the one idle longest, as Apache does: a lull shrinks the pool gently.
    const WorkerSlot* oldest = nullptr;
    for (const auto& [pid, w] : board.workers) {
      if (w.stopping || w.state != ipc::WorkerState::kIdle) continue;
      if (oldest == nullptr || w.state_since < oldest->state_since) oldest = &w;
    }
    if (oldest != nullptr) d.retire.push_back(oldest->pid);
  }
  ApplyProcessLimit(board, c, state, &d);
  return d;
}

}  // namespace backupd::daemon
