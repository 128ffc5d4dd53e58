// test process (root, to start backupd as root): runs the real daemon on port 0 in a temp folder,
// captures its log, and inspects its processes through /proc.
#ifndef BACKUPD_TESTS_HARNESS_DAEMON_HARNESS_H_
#define BACKUPD_TESTS_HARNESS_DAEMON_HARNESS_H_

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "tests/harness/temp_dir.h"

namespace backupd::testing {

using Millis = std::chrono::milliseconds;

// A private view of the machine for one backupd, so a test decides what the daemon finds on
// /dev/log without touching the host's: the program runs in its own mount namespace where `dev`
// replaces /dev (with /dev/null bound in; a socket the test names `log` there is /dev/log) and
// `var_log` replaces /var/log. Empty paths: the host's view.
struct PrivateMounts {
  std::string dev;
  std::string var_log;
};

// Creates `root`/dev (with an empty `null` to bind /dev/null onto) and `root`/var_log.
Result<PrivateMounts> MakePrivateMounts(const std::string& root);

// Binds a datagram socket at `path` (a syslog daemon's end of /dev/log); returns its descriptor.
Result<int> BindDatagramSocket(const std::string& path);

// What a Daemon finds on /dev/log: the host's, nothing, or a socket the harness reads.
enum class DevLog { kHost, kAbsent, kListening };

// How a Daemon is started. The defaults are the integration contract's config file; `overrides`
// are passed as `-o key=value` after it.
struct DaemonOptions {
  std::vector<std::string> overrides;
  // Logs to a file in the temp folder instead of stderr (stderr is still captured).
  bool log_to_file = false;
  // Starts backupd as nobody:nogroup instead of root (a developer's machine): the temp folder is
  // handed to nobody so the daemon can create its storage there, and the program run is a copy
  // in it, so a build tree nobody may not enter still works.
  bool as_nobody = false;
  // The umask backupd inherits (the test's when unset), to show its modes do not depend on it.
  std::optional<mode_t> umask = std::nullopt;
  // Unless kHost: `log = syslog`, in PrivateMounts under dir() (see SetSyslogListening).
  DevLog dev_log = DevLog::kHost;
};

// One backupd supervisor started with `backupd -f -c CONF` in its own temp folder. Its stderr is
// drained by a thread into Log(), so the daemon never blocks on a full pipe. The destructor stops
// it (SIGTERM, then SIGKILL for the supervisor and its children) if a test did not.
class Daemon {
 public:
  Daemon();
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Writes the config, starts the daemon and waits until it logged `listening on 127.0.0.1:PORT`.
  Status Start(const DaemonOptions& options = {});

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_.path(); }
  std::string storage() const { return dir_.Sub("storage"); }
  std::string log_file() const { return dir_.Sub("backupd.log"); }
  std::string config_file() const { return dir_.Sub("backupd.conf"); }

  // Everything the daemon wrote so far: stderr, plus the log file when log_to_file, plus what
  // reached the harness's syslog socket.
  std::string Log() const;
  std::string Stderr() const;
  // The datagrams that reached /dev/log (DevLog::kListening), one per line.
  std::string SyslogLog() const;
  // Makes the harness's syslog socket appear on (or vanish from) the daemon's /dev/log.
  Status SetSyslogListening(bool listening);
  // The daemon's /dev and /var/log when started with a DevLog other than kHost.
  const PrivateMounts& mounts() const { return mounts_; }
  // Polls Log() until `pred` holds or `timeout` passes; returns whether it held.
  bool WaitForLog(const std::function<bool(const std::string&)>& pred, Millis timeout) const;
  // Waits for a log line that contains every one of `parts`.
  bool WaitForLogLine(const std::vector<std::string>& parts, Millis timeout) const;

  // The supervisor's direct children, i.e. its workers.
  std::vector<pid_t> Workers() const;
  // The workers' children: the session children serving connections that have their user's folder.
  std::vector<pid_t> SessionChildren() const;
  // Where a worker of this daemon started as root is chrooted (canonical): storage()'s empty
  // `.backupd-empty`.
  std::string WorkerRoot() const;
  // Polls until there are exactly `n` workers, each already chrooted into WorkerRoot() and running
  // as nobody under its syscall filter when the daemon runs as root. Returns them, or Timeout.
  Result<std::vector<pid_t>> WaitForWorkers(size_t n, Millis timeout) const;

  // SIGTERM, then waits for the supervisor to exit; returns its wait status.
  Result<int> Stop(Millis timeout);
  bool running() const { return pid_ > 0; }

 private:
  // Reads stderr and the syslog socket until the daemon closes stderr.
  void Drain();
  Status WaitForListening(Millis timeout);
  void KillAll();

  TempDir dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool log_to_file_ = false;
  PrivateMounts mounts_;
  int stderr_fd_ = -1;
  int syslog_fd_ = -1;
  std::thread drainer_;
  std::atomic<bool> stop_draining_{false};
  mutable std::mutex mu_;
  std::string stderr_text_;
  std::string syslog_text_;
};

// The exit of a program run to completion (or killed at its deadline).
struct ProgramResult {
  int exit_code = -1;  // -1 when killed by a signal or at the deadline
  bool timed_out = false;
  std::string out;
  std::string err;
};

// Runs argv[0] with `argv` in `cwd` (stdin /dev/null), capturing stdout and stderr, in
// `mounts` when they are given.
ProgramResult RunProgram(const std::vector<std::string>& argv, const std::string& cwd,
                         Millis timeout, const PrivateMounts& mounts = {});

// Registers user `id` in `users_file` with the real `backupd user add ID -c CONF`, CONF being a
// config in `dir` naming `users_file` and `pid_file` (user add signals the daemon that pid file
// names to reload; a path where no pid file is skips that). Returns the new secret: the last word
// of what it printed.
Result<std::string> AddBackupdUser(uint32_t id, const std::string& users_file,
                                   const std::string& pid_file, const std::string& dir);

// Writes `secret` to `path` with mode 0600, the only mode the clients accept for a secret file.
bool WriteSecretFile(const std::string& path, const std::string& secret);

// --- small file and /proc helpers ---

std::optional<std::string> ReadFile(const std::string& path);
bool WriteFile(const std::string& path, const std::string& content);
// Deterministic pseudo-random bytes (all 256 values occur), distinct per seed.
std::string RandomBytes(size_t n, uint64_t seed);
bool PathExists(const std::string& path);  // lstat: true for a dangling symlink too
// The names in a folder, without "." and ".."; empty if it cannot be read.
std::vector<std::string> ListDir(const std::string& dir);

// Polls `pred` until it holds or `timeout` passes; returns whether it held.
// Whether a process's memory figures (VmRSS, VmHWM) mean what the code holds: not under ASan,
// whose shadow memory and quarantine of freed blocks (256 MiB by default) dwarf it. A sanitized
// build checks what a memory test does, not its bound.
#ifdef BACKUPD_SANITIZE
inline constexpr bool kMemoryIsMeasurable = false;
#else
inline constexpr bool kMemoryIsMeasurable = true;
#endif

template <typename Pred>
bool Eventually(Pred pred, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(Millis(10));
  }
}

// The pid of a process whose command line holds every one of `words`, if there is one.
std::optional<pid_t> ProcessWith(const std::vector<std::string>& words);

// Whether `pid` is inside flock(2) now, as /proc/PID/syscall says: a job seen waiting for a lock.
bool InFlock(pid_t pid);

// A line of /proc/PID/status, e.g. "Uid" -> "65534\t65534\t65534\t65534"; nullopt if absent.
std::optional<std::string> ProcStatusField(pid_t pid, const std::string& key);
// readlink(/proc/PID/<what>), e.g. "root", "cwd", "fd/3".
std::optional<std::string> ProcLink(pid_t pid, const std::string& what);
// fd number -> readlink target for every descriptor of PID.
std::vector<std::pair<int, std::string>> ProcFds(pid_t pid);
// Which of `processes` holds the server's end of the TCP connection from `client` (as
// RawClient::LocalAddress gives it) to 127.0.0.1:`port`; -1 while none does (it still waits in the
// listen queue, or is not established).
pid_t HolderOfConnection(const std::vector<pid_t>& processes, uint16_t port,
                         const std::string& client);
// Every live (non-zombie) process whose parent is `ppid`.
std::vector<pid_t> ChildrenOf(pid_t ppid);
// Every live process below `ppid`: its children, theirs, and so on.
std::vector<pid_t> DescendantsOf(pid_t ppid);
// Every live process with `arg` among its command-line arguments (forked children keep them).
std::vector<pid_t> ProcessesWithArgument(const std::string& arg);
// True while /proc/PID exists and is not a zombie.
bool ProcessAlive(pid_t pid);
// True while PID is stopped by a signal (state T).
bool ProcessStopped(pid_t pid);
// Waits up to `timeout` for a process below `root` to be stopped (a test hook's SIGSTOP), lets it
// go on with SIGCONT and returns it; -1 if none stopped or it could not be signalled.
pid_t ResumeStoppedDescendant(pid_t root, Millis timeout);
// Inodes of the TCP sockets listening on 127.0.0.1:port (from /proc/net/tcp).
std::vector<std::string> ListeningSocketInodes(uint16_t port);

// For a test that lets backupd detach: makes this process the subreaper that inherits it (so the
// test can check and reap it), and on destruction kills `pid` if still alive, reaps and resigns.
class DetachedGuard {
 public:
  DetachedGuard();
  ~DetachedGuard();
  DetachedGuard(const DetachedGuard&) = delete;
  DetachedGuard& operator=(const DetachedGuard&) = delete;
  bool ok() const { return ok_; }
  pid_t pid = -1;

 private:
  bool ok_ = false;
};

// Whether the running kernel has Landlock (ABI version >= 1).
bool KernelHasLandlock();

uid_t NobodyUid();
gid_t NogroupGid();

// Paths of the backupd programs, from the build.
std::string BackupdPath();
std::string BackupClientPath();
std::string PythonClientPath();
std::string Python3Path();

// backup-client's words to reach the daemon on 127.0.0.1:`port` over protocol v2 as `user`, its
// secret in `secret_file`; the command's words follow.
std::vector<std::string> BackupClientV2(uint16_t port, uint32_t user,
                                        const std::string& secret_file);

// The lines of `text` (a log) that contain every one of `parts`.
std::vector<std::string> LinesWith(const std::string& text, const std::vector<std::string>& parts);

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_HARNESS_DAEMON_HARNESS_H_
