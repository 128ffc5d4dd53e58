// command line (any user): `backupd status` — reads the table from the status socket and prints it.
#ifndef BACKUPD_DAEMON_SCOREBOARD_CLIENT_H_
#define BACKUPD_DAEMON_SCOREBOARD_CLIENT_H_

#include <chrono>
#include <ostream>
#include <string>

namespace backupd::daemon {

// Exit codes of `backupd status`, after the LSB init-script status codes.
inline constexpr int kExitRunning = 0;
inline constexpr int kExitError = 1;       // could not ask, or was not answered
inline constexpr int kExitNotRunning = 3;  // no socket, or nothing listening on it

// Connects to the status socket, copies the whole answer to `out` and returns kExitRunning.
// Otherwise writes one "backupd: ..." line to `err` saying what went wrong and returns
// kExitNotRunning or kExitError. Gives up after `timeout` in total.
int PrintScoreboard(const std::string& socket_path, std::ostream& out, std::ostream& err,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SCOREBOARD_CLIENT_H_
