// `backupd prune ...` (root, a short-lived command, no daemon; works as the worker user): applies
// keep_versions and keep_days to the history of every stored name.
#ifndef BACKUPD_DAEMON_PRUNE_COMMAND_H_
#define BACKUPD_DAEMON_PRUNE_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace backupd::daemon {

// Runs `backupd prune [-c FILE] [USER]` (`args` are the words after "prune"): removes, for USER
// (or every user folder in storage), the old versions retention no longer keeps — append-only
// users included, since this is the administrator's own act. Prints a line per user that lost
// versions and a summary on `out` and logs them. Returns the exit code: 0 done, 1 some history
// could not be read or pruned (named on `out`), 2 bad usage, a bad config or an unknown user
// (message on `err`).
int RunPruneCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_PRUNE_COMMAND_H_
