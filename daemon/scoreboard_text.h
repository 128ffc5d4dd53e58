// supervisor (root): renders the scoreboard as the text table `backupd status` prints.
#ifndef BACKUPD_DAEMON_SCOREBOARD_TEXT_H_
#define BACKUPD_DAEMON_SCOREBOARD_TEXT_H_

#include <chrono>
#include <string>
#include <string_view>

#include "daemon/scoreboard.h"

namespace backupd::daemon {

// The scoreboard as a table, like `apachectl status`: a header (supervisor pid, start time in
// UTC, uptime, generation, workers by state, request and byte totals) and one row per worker,
// ordered by pid. `now` is the clock the durations are measured against, so the output depends on
// its inputs only. A worker told to exit shows as "finishing" while busy, "stopping" otherwise.
std::string RenderScoreboard(const Scoreboard& board, std::chrono::steady_clock::time_point now);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SCOREBOARD_TEXT_H_
