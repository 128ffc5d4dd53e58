// supervisor (root): signal handling — handlers only set flags; the main loop does the work.
#ifndef BACKUPD_DAEMON_SIGNALS_H_
#define BACKUPD_DAEMON_SIGNALS_H_

#include <signal.h>

namespace backupd::daemon {

// What arrived since the last TakeSignals().
struct Signals {
  bool stop = false;    // SIGTERM, SIGINT: graceful stop
  bool quit = false;    // SIGQUIT: immediate stop
  bool reload = false;  // SIGHUP
  bool reopen = false;  // SIGUSR1
  bool child = false;   // SIGCHLD
};

// Installs the handlers and blocks those signals; returns the mask to pass to ppoll, the only
// place they are delivered, so no flag can be set between a check and a wait.
sigset_t InstallSignalHandlers();
Signals TakeSignals();

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SIGNALS_H_
