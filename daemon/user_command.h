// `backupd user ...` (root, a short-lived command, no daemon): registers users, replaces their
// secrets, removes and lists them, in the users file.
#ifndef BACKUPD_DAEMON_USER_COMMAND_H_
#define BACKUPD_DAEMON_USER_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace backupd::daemon {

// Runs `backupd user ARGS...` (`args` are the words after "user"):
//   add ID | del ID | passwd ID | list, each with an optional -c FILE (the config to take
//   users_file and pid_file from).
// add and passwd print the new secret once, as the last word of the output; the file keeps only
// its verifier. After a change, a running backupd (pid_file) gets SIGHUP, and the output says so.
// Returns the exit code: 0 done, 1 refused or failed (message on `err`), 2 bad usage.
int RunUserCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_USER_COMMAND_H_
