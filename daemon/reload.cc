// supervisor (root): SIGHUP — re-read the config and start a new generation of workers, or keep
// serving with the old one if anything about the new one is wrong; re-read the users file, or
// keep the old users if it is broken.
#include <signal.h>

#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/preflight.h"
#include "daemon/supervisor.h"
#include "daemon/tls_context.h"

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

// New sockets for `wanted` when it differs from `current` (then *changed); else nothing is bound.
Result<std::vector<Listener>> Rebind(const std::vector<conf::ListenAddress>& wanted,
                                     const std::vector<conf::ListenAddress>& current,
                                     const conf::Config& next, bool* changed) {
  *changed = !SameListen(wanted, current);
  if (!*changed) return std::vector<Listener>();
  return BindAll(wanted, static_cast<int>(next.listen_backlog));
}

}  // namespace

void Supervisor::Reload() {
  auto fail = [](const Status& why) {
    BACKUPD_LOG(kError) << "reload failed, still serving with the previous configuration: "
                        << why.message();
  };
  Result<conf::Config> loaded = conf::LoadConfig(s_.command_line);
  Result<worker::Identity> identity =
      loaded.ok() ? ResolveIdentity(*loaded) : Result<worker::Identity>(loaded.status());
  Status ready = identity.ok() ? PrepareStorage(*loaded, *identity) : identity.status();
  if (!ready.ok()) return fail(ready);
  conf::Config next = *loaded;
  // A new certificate (or the same one, re-read) serves the next generation's connections; the
  // old generation keeps the context it was forked with until it exits.
  Result<TlsContext> tls = LoadTlsContext(next);
  if (!tls.ok()) return fail(tls.status());
  Result<MonitorSettings> monitor = LoadMonitorSettings(next, *identity);
  if (!monitor.ok()) return fail(monitor.status());
  bool plain_changed = false, tls_changed = false;
  Result<std::vector<Listener>> plain = Rebind(next.listen, s_.config.listen, next, &plain_changed);
  if (!plain.ok()) return fail(plain.status());
  Result<std::vector<Listener>> secure =
      Rebind(next.tls_listen, s_.config.tls_listen, next, &tls_changed);
  if (!secure.ok()) return fail(secure.status());
  // Sockets kept across the reload still have the old backlog; new ones were bound with the new.
  if (next.listen_backlog != s_.config.listen_backlog) {
    const int backlog = static_cast<int>(next.listen_backlog);
    Status kept = plain_changed ? Status::Ok() : SetBacklog(s_.listeners, backlog);
    if (kept.ok() && !tls_changed) kept = SetBacklog(s_.tls_listeners, backlog);
    if (!kept.ok()) return fail(kept);
    BACKUPD_LOG(kInfo) << "listen backlog changed to " << next.listen_backlog;
  }
  // Replacing closes the old sockets; old workers keep their own copies until they exit.
  if (plain_changed) s_.listeners = std::move(*plain);
  if (tls_changed) s_.tls_listeners = std::move(*secure);
  if (plain_changed || tls_changed) {
    const std::vector<Listener> none;
    LogListening(plain_changed ? s_.listeners : none, tls_changed ? s_.tls_listeners : none);
  }
  s_.tls = std::move(*tls);
  monitor_.Configure(std::move(*monitor));
  SetDeferAccept(s_.listeners, next);
  SetDeferAccept(s_.tls_listeners, next);
  Status logging = SetUpLogging(next, ChooseLogTarget(next, s_.command_line.foreground));
  if (!logging.ok()) BACKUPD_LOG(kError) << "keeping the previous log: " << logging.message();
  // The next write goes to the new path; the old file would otherwise be served forever.
  if (next.metrics_file != s_.config.metrics_file) {
    Status removed = RemoveMetricsFile(s_.config.metrics_file);
    if (!removed.ok()) BACKUPD_LOG(kWarning) << "metrics: " << removed.message();
  }
  s_.config = next;
  s_.identity = *identity;
  ++board_.generation;
  ++board_.counters.reloads;
  throttle_delay_ = std::chrono::milliseconds(0);
  throttle_until_ = Clock::time_point();
  StopWorkers(SIGTERM, true);
  BACKUPD_LOG(kInfo) << "configuration reloaded (generation " << board_.generation << ")";
  for (const std::string& w : conf::Warnings(s_.config)) BACKUPD_LOG(kWarning) << w;
}

void Supervisor::ReloadUsers() {
  // A missing file is a choice (no one logs in); a broken one is a mistake, like a bad config.
  Result<Users> users = LoadUsersOrNone(s_.config.users_file);
  if (!users.ok()) {
    BACKUPD_LOG(kError) << "users not reloaded, keeping the previous ones: "
                        << users.status().message();
    return;
  }
  BACKUPD_LOG(kInfo) << "users reloaded: " << users->size() << " from " << s_.config.users_file;
  monitor_.SetUsers(std::move(*users));
}

}  // namespace backupd::daemon
