// supervisor (root): the supervisor's fixed timings and limits, each with the reason for its value.
#ifndef BACKUPD_DAEMON_LIMITS_H_
#define BACKUPD_DAEMON_LIMITS_H_

#include <chrono>
#include <cstddef>

namespace backupd::daemon {

// The spare rules (min_spare forks, max_spare retirement) run once per tick: often enough to follow
// load within a second, seldom enough that a burst of short connections does not make the pool
// fork and retire in turn. Apache prefork's maintenance interval.
inline constexpr std::chrono::milliseconds kPoolTick{1000};

// Most workers forked for min_spare in one tick. The rate doubles 1, 2, 4 ... while spares are
// short, so a sudden crowd is met within a few ticks, but no tick forks more than this: a fork
// storm would steal the CPU from the requests it is meant to serve (Apache's MAX_SPAWN_RATE).
inline constexpr unsigned kMaxSpawnRate = 32;

// After a worker dies before serving, the next fork waits kFirstThrottle, doubling with each such
// death up to kMaxThrottle: a broken set-up (storage gone, user deleted) costs one fork per 32 s
// instead of a fork loop, and a repaired one is noticed within 32 s (Postfix's throttle).
inline constexpr std::chrono::milliseconds kFirstThrottle{1000};
inline constexpr std::chrono::milliseconds kMaxThrottle{32000};

// Report batches (ipc::kMaxReportsPerTurn each) read from a reaped worker's pipe before it is
// closed: a default 64 KiB pipe holds 74 reports, 5 batches, so 8 empty it; the bound stops a
// session child outliving its worker for a moment from keeping the loop on one pipe.
inline constexpr size_t kReportBatchesFromTheDead = 8;

// The metrics file is rewritten this often: fresher than node_exporter's usual 15 s scrape, and one
// small atomic write per 5 s costs nothing.
inline constexpr std::chrono::seconds kMetricsInterval{5};

// While stopping, the loop wakes at least this often to check shutdown_timeout even when no worker
// reports or exits; a tenth of a second is as late as a stop may overrun its deadline.
inline constexpr std::chrono::milliseconds kShutdownPoll{100};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_LIMITS_H_
