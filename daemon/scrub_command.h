// `backupd scrub ...` (root, a short-lived command, no daemon; reads as the worker user): checks
// stored files against the digests their v2 uploads left beside them.
#ifndef BACKUPD_DAEMON_SCRUB_COMMAND_H_
#define BACKUPD_DAEMON_SCRUB_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace backupd::daemon {

// Runs `backupd scrub [-c FILE] [USER]` (`args` are the words after "scrub"): re-reads every
// stored file of USER (or of every user folder in storage) and compares its SHA-256 with its
// sidecar's. Prints each damaged file (user, name, expected and actual digest) on `out` and logs
// it, then the summary line; changes nothing. Returns the exit code: 0 no damage, 1 damage found,
// 2 bad usage, a bad config, an unknown user or a storage that cannot be read (message on `err`).
int RunScrubCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SCRUB_COMMAND_H_
