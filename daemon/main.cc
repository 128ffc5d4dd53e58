// supervisor (root): backupd's entry point — options, config, log, storage, sockets, then the loop.
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/escaped_exception.h"
#include "conf/config.h"
#include "daemon/listeners.h"
#include "daemon/log.h"
#include "daemon/monitor.h"
#include "daemon/preflight.h"
#include "daemon/process.h"
#include "daemon/prune_command.h"
#include "daemon/scoreboard_client.h"
#include "daemon/scoreboard_server.h"
#include "daemon/scrub_command.h"
#include "daemon/shared_storage.h"
#include "daemon/signals.h"
#include "daemon/supervisor.h"
#include "daemon/tls_context.h"
#include "daemon/user_command.h"
#include "daemon/users_file.h"

namespace {

int Fail(const backupd::Status& s) {
  std::cerr << "backupd: " << s.message() << "\n";
  return 1;
}

// The whole program; main() adds only the last resort for an exception that escapes it.
int Main(int argc, char** argv) {
  using namespace backupd;
  // `backupd user ...`, `backupd scrub ...` and `backupd prune ...` have their own words and
  // options; they never start a daemon.
  if (argc >= 2 && std::string_view(argv[1]) == "user") {
    return daemon::RunUserCommand(std::vector<std::string>(argv + 2, argv + argc), std::cout,
                                  std::cerr);
  }
  if (argc >= 2 && std::string_view(argv[1]) == "scrub") {
    return daemon::RunScrubCommand(std::vector<std::string>(argv + 2, argv + argc), std::cout,
                                   std::cerr);
  }
  if (argc >= 2 && std::string_view(argv[1]) == "prune") {
    return daemon::RunPruneCommand(std::vector<std::string>(argv + 2, argv + argc), std::cout,
                                   std::cerr);
  }
  Result<conf::CommandLine> cmd = conf::ParseCommandLine(argc, argv);
  if (!cmd.ok()) {
    std::cerr << "backupd: " << cmd.status().message() << "\nTry 'backupd --help'.\n";
    return 2;
  }
  if (cmd->help) {
    std::cout << cmd->help_text;
    return 0;
  }
  if (cmd->version) {
    std::cout << "backupd " << BACKUPD_VERSION << "\n";
    return 0;
  }
  Result<conf::Config> config = conf::LoadConfig(*cmd);
  if (cmd->status) {
    // A config being edited must not hide a running daemon's status: fall back to the default.
    std::string socket = config.ok() ? config->status_socket : conf::Config().status_socket;
    if (!config.ok()) std::cerr << "backupd: " << config.status().message() << "\n";
    return daemon::PrintScoreboard(socket, std::cout, std::cerr);
  }
  if (!config.ok()) return Fail(config.status());
  Result<worker::Identity> identity = daemon::ResolveIdentity(*config);
  if (!identity.ok()) return Fail(identity.status());
  Result<daemon::TlsContext> tls = daemon::LoadTlsContext(*config);
  if (!tls.ok()) return Fail(tls.status());
  // In the foreground a fallback to stderr says why itself, as the first line of the log.
  daemon::LogTarget log = daemon::ChooseLogTarget(*config, cmd->foreground);
  if (!log.why.empty() && (cmd->test_config || !cmd->foreground)) {
    std::cerr << "backupd: warning: " << log.why << "\n";
  }
  const std::vector<std::string> warnings = conf::Warnings(*config);
  Status kernel = daemon::CheckOpenat2();
  if (!kernel.ok()) return Fail(kernel);
  if (cmd->test_config) {
    for (const std::string& w : warnings) std::cerr << "backupd: warning: " << w << "\n";
    Result<gid_t> status_gid = daemon::ResolveStatusGroup(*config);
    Status s = status_gid.ok() ? daemon::CheckStorage(*config, *identity) : status_gid.status();
    if (!s.ok()) return Fail(s);
    Result<daemon::Users> users = daemon::LoadUsersOrNone(config->users_file);
    if (!users.ok()) return Fail(users.status());
    for (const std::string& w : daemon::SharedStorageWarnings(
             daemon::FindStorageMount(config->storage), daemon::RunGlusterGet)) {
      std::cerr << "backupd: warning: " << w << "\n";
    }
    std::cout << "backupd: configuration " << cmd->config_path << " is OK\n";
    return 0;
  }

  // From here on a signal waits for the loop instead of killing a half-started daemon: an init
  // script's reload or stop right after "listening on" must reload or stop it cleanly.
  sigset_t wait_mask = daemon::InstallSignalHandlers();
  Status s = daemon::SetUpLogging(*config, log);
  if (!s.ok()) return Fail(s);
  for (const std::string& w : warnings) BACKUPD_LOG(kWarning) << w;
  if (!identity->drop) {
    BACKUPD_LOG(kWarning) << "not started as root: workers keep uid " << identity->uid
                          << " and are not chrooted (storage confinement still applies)";
  }
  s = daemon::PidFile::CheckNotRunning(config->pid_file);
  if (!s.ok()) return Fail(s);
  s = daemon::PrepareStorage(*config, *identity);
  if (!s.ok()) return Fail(s);
  Result<daemon::Users> users = daemon::LoadUsersOrNone(config->users_file);
  if (!users.ok()) return Fail(users.status());
  Result<daemon::MonitorSettings> monitor_settings =
      daemon::LoadMonitorSettings(*config, *identity);
  if (!monitor_settings.ok()) return Fail(monitor_settings.status());
  Result<daemon::Monitor> monitor =
      daemon::Monitor::Create(std::move(*monitor_settings), std::move(*users));
  if (!monitor.ok()) return Fail(monitor.status());
  Result<std::vector<daemon::Listener>> listeners =
      daemon::BindAll(config->listen, static_cast<int>(config->listen_backlog));
  if (!listeners.ok()) return Fail(listeners.status());
  Result<std::vector<daemon::Listener>> tls_listeners =
      daemon::BindAll(config->tls_listen, static_cast<int>(config->listen_backlog));
  if (!tls_listeners.ok()) return Fail(tls_listeners.status());
  daemon::SetDeferAccept(*listeners, *config);
  daemon::SetDeferAccept(*tls_listeners, *config);
  daemon::LogListening(*listeners, *tls_listeners);

  if (!cmd->foreground) {
    s = daemon::Daemonize();
    if (!s.ok()) return Fail(s);
  }
  // Every return from here on removes the pid file with this guard.
  Result<daemon::PidFile> pid_file = daemon::PidFile::Write(config->pid_file);
  if (!pid_file.ok()) {
    BACKUPD_LOG(kError) << pid_file.status().message();
    return 1;
  }
  // A worker killed under its session child leaves that child to whoever adopts it. Adopt it
  // here (ReapChildren passes over pids it does not know), so it is reaped at once rather than
  // whenever init gets to it: until then its pid lives on, and the half-done upload it left is
  // not swept (UserDir asks whether the writer's pid still exists).
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    BACKUPD_LOG(kWarning) << "PR_SET_CHILD_SUBREAPER: " << std::strerror(errno);
  }
  // After daemonizing: the socket belongs to (and is removed by) the process that serves it.
  Result<gid_t> status_gid = daemon::ResolveStatusGroup(*config);
  Result<daemon::ScoreboardServer> status =
      status_gid.ok() ? daemon::ScoreboardServer::Listen(config->status_socket, *status_gid)
                      : Result<daemon::ScoreboardServer>(status_gid.status());
  if (!status.ok()) {
    BACKUPD_LOG(kError) << status.status().message();
    return 1;
  }
  BACKUPD_LOG(kInfo) << "backupd " << BACKUPD_VERSION << " started, storage " << config->storage
                     << ", " << config->workers << " workers";

  Result<ipc::PeerTable> peers = ipc::PeerTable::Create();
  if (!peers.ok()) {
    BACKUPD_LOG(kError) << peers.status().message();
    return 1;
  }
  // Here, with the log, the pid file and the status socket all set up: the most to clean up.
  ThrowIfTestHookAsks("main");
  daemon::SupervisorSetup setup{*cmd,
                                *config,
                                std::move(*listeners),
                                std::move(*tls_listeners),
                                std::move(*tls),
                                *identity,
                                std::move(*status),
                                wait_mask};
  return daemon::Supervisor(std::move(setup), std::move(*peers), std::move(*monitor)).Run();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (...) {
    const std::string why = "internal error, stopping: " + backupd::DescribeCurrentException();
    std::cerr << "backupd: " << why << "\n";
    backupd::daemon::LogLastWords(why);
    return backupd::kExitInternalError;
  }
}
