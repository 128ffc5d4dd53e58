// supervisor (root): signal flags set by async handlers, read by the main loop.
#include "daemon/signals.h"

#include <csignal>

namespace backupd::daemon {

namespace {

volatile sig_atomic_t g_stop, g_quit, g_reload, g_reopen, g_child;

void OnSignal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      g_stop = 1;
      break;
    case SIGQUIT:
      g_quit = 1;
      break;
    case SIGHUP:
      g_reload = 1;
      break;
    case SIGUSR1:
      g_reopen = 1;
      break;
    case SIGCHLD:
      g_child = 1;
      break;
    default:
      break;
  }
}

constexpr int kHandled[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD};

}  // namespace

sigset_t InstallSignalHandlers() {
  sigset_t block;
  sigemptyset(&block);
  for (int sig : kHandled) sigaddset(&block, sig);
  sigset_t old;
  ::sigprocmask(SIG_BLOCK, &block, &old);

  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigfillset(&sa.sa_mask);
  for (int sig : kHandled) ::sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGPIPE, &sa, nullptr);

  sigset_t wait_mask = old;
  for (int sig : kHandled) sigdelset(&wait_mask, sig);
  return wait_mask;
}

Signals TakeSignals() {
  Signals s;
  s.stop = g_stop;
  s.quit = g_quit;
  s.reload = g_reload;
  s.reopen = g_reopen;
  s.child = g_child;
  g_stop = g_quit = g_reload = g_reopen = g_child = 0;
  return s;
}

}  // namespace backupd::daemon
