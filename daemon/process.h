// supervisor (root): becoming a daemon, and the pid file.
#ifndef BACKUPD_DAEMON_PROCESS_H_
#define BACKUPD_DAEMON_PROCESS_H_

#include <string>

#include "base/status.h"

namespace backupd::daemon {

// Forks into the background: the parent exits 0, the child starts a new session, changes to /
// and points stdin/stdout/stderr at /dev/null.
Status Daemonize();

// The pid file: refuses when it names a live backupd, else writes our pid; Remove() deletes it
// only if it still holds our pid (a newer instance may own it).
class PidFile {
 public:
  // An empty path means no pid file.
  static Status CheckNotRunning(const std::string& path);
  static Status Write(const std::string& path);
  static void Remove(const std::string& path);
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_PROCESS_H_
