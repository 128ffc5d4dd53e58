// supervisor (root): SIGHUP — re-read the config and start a new generation of workers, or keep
// serving with the old one if anything about the new one is wrong.
#include <signal.h>

#include "daemon/log.h"
#include "daemon/preflight.h"
#include "daemon/supervisor.h"

namespace backupd::daemon {

namespace {

bool SameListen(const std::vector<conf::ListenAddress>& a,
                const std::vector<conf::ListenAddress>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].host != b[i].host || a[i].port != b[i].port) return false;
  }
  return true;
}

}  // namespace

void Supervisor::Reload() {
  Result<conf::Config> loaded = conf::LoadConfig(s_.command_line);
  Result<worker::Identity> identity =
      loaded.ok() ? ResolveIdentity(*loaded) : Result<worker::Identity>(loaded.status());
  Status ready = identity.ok() ? PrepareStorage(*loaded, *identity) : identity.status();
  if (!ready.ok()) {
    BACKUPD_LOG(kError) << "reload failed, still serving with the previous configuration: "
                        << ready.message();
    return;
  }
  conf::Config next = *loaded;
  if (!SameListen(next.listen, s_.config.listen)) {
    Result<std::vector<Listener>> bound =
        BindAll(next.listen, static_cast<int>(next.listen_backlog));
    if (!bound.ok()) {
      BACKUPD_LOG(kError) << "reload failed, still serving with the previous configuration: "
                          << bound.status().message();
      return;
    }
    // Closes the old sockets; old workers keep their own copies until they finish and exit.
    s_.listeners = std::move(*bound);
    for (const Listener& l : s_.listeners) BACKUPD_LOG(kInfo) << "listening on " << l.bound;
  }
  SetDeferAccept(s_.listeners, next.idle_timeout);
  Status logging = SetUpLogging(next, ChooseLogTarget(next, s_.command_line.foreground));
  if (!logging.ok()) BACKUPD_LOG(kError) << "keeping the previous log: " << logging.message();
  s_.config = next;
  s_.identity = *identity;
  ++board_.generation;
  ++board_.counters.reloads;
  throttle_delay_ = std::chrono::milliseconds(0);
  throttle_until_ = Clock::time_point();
  StopWorkers(SIGTERM, true);
  BACKUPD_LOG(kInfo) << "configuration reloaded (generation " << board_.generation << ")";
}

}  // namespace backupd::daemon
