// supervisor (root): becoming a daemon, and the pid file.
#ifndef BACKUPD_DAEMON_PROCESS_H_
#define BACKUPD_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <string>

#include "base/status.h"

namespace backupd::daemon {

// Forks into the background: the parent exits 0, the child starts a new session, changes to /
// and points stdin/stdout/stderr at /dev/null.
Status Daemonize();

// The pid file, for as long as this object lives: every way out of main() after it was written —
// an early error return as much as a clean stop — removes it. Only if it still holds our pid,
// since a newer instance may own it by then; never in a forked child.
class PidFile {
 public:
  // Invalid if `path` names a live backupd other than us. An empty path means no pid file.
  static Status CheckNotRunning(const std::string& path);
  // The pid of the backupd that `path` names if it is alive, else 0 (for `backupd user`'s SIGHUP).
  static pid_t LivePid(const std::string& path);
  // Writes our pid to `path` (atomically, mode 0644). An empty path writes nothing.
  static Result<PidFile> Write(const std::string& path);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile();

 private:
  PidFile(std::string path, pid_t owner) : path_(std::move(path)), owner_(owner) {}
  void Remove();

  std::string path_;  // empty: nothing to remove
  pid_t owner_ = 0;
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_PROCESS_H_
