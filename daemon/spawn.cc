// supervisor (root): child birth and death — forks workers, reaps them, throttles forking after
// workers that die before serving, and signals them to stop.
#include "daemon/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/escaped_exception.h"
#include "base/text.h"
#include "daemon/limits.h"
#include "daemon/log.h"
#include "daemon/supervisor.h"
#include "worker/worker_main.h"

namespace backupd::daemon {

// Slots are indexed by FreeSlotIndex: workers of every generation together are at most
// WorkerProcessLimit (2 * workers.max), which the table must hold.
static_assert(ipc::PeerTable::kSlots >= 2 * conf::kMaxWorkers,
              "the peer table must hold WorkerProcessLimit workers at the largest workers.max");

namespace {

using std::chrono::milliseconds;

// The forked child (worker, or a session child it forks) must never unwind into the supervisor's
// frames it inherited: main()'s last resort would write to the supervisor's log through a
// descriptor number the child closed and may have reused for a user's file. What escapes goes to
// the supervisor as a report (a full pipe drops it; exit status 70 still tells), and the child
// exits as a crash.
[[noreturn]] void RunWorker(const worker::WorkerArgs& args) {
  try {
    ThrowIfTestHookAsks("worker");
    worker::WorkerMain(args);
  } catch (...) {
    ipc::Send(args.report_fd,
              ipc::LogReport(args.generation, ipc::Severity::kError,
                             "internal error, exiting: " + DescribeCurrentException()));
  }
  ::_exit(kExitInternalError);
}

}  // namespace

WorkerExit ClassifyExit(int wait_status, const WorkerSlot& w) {
  bool clean = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
  bool killed_on_purpose =
      w.stopping && WIFSIGNALED(wait_status) && WTERMSIG(wait_status) == SIGKILL;
  if (clean || killed_on_purpose) return WorkerExit::kExpected;
  return w.state == ipc::WorkerState::kStarting ? WorkerExit::kDiedStarting : WorkerExit::kCrashed;
}

milliseconds NextThrottleDelay(milliseconds previous) {
  return std::clamp(previous * 2, kFirstThrottle, kMaxThrottle);
}

size_t Supervisor::FreeSlotIndex() const {
  std::vector<bool> used(ipc::PeerTable::kSlots, false);
  for (const auto& [pid, w] : board_.workers) used[w.index] = true;
  for (size_t i = 0; i < used.size(); ++i) {
    if (!used[i]) return i;
  }
  // SizePool never forks past WorkerProcessLimit, which the peer table holds: a full table is our
  // own broken invariant, and sharing a slot would corrupt every per-address count.
  BACKUPD_LOG(kError) << "no free peer-table slot for a new worker among " << board_.workers.size()
                      << " -- aborting";
  std::abort();
}

void Supervisor::Throttle() {
  throttle_delay_ = NextThrottleDelay(throttle_delay_);
  throttle_until_ = Clock::now() + throttle_delay_;
  ++board_.counters.throttles;
}

void Supervisor::Spawn() {
  int p[2];
  if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
    BACKUPD_LOG(kError) << "cannot create a report pipe: " << std::strerror(errno);
    Throttle();
    return;
  }
  UniqueFd read_end(p[0]);
  UniqueFd write_end(p[1]);
  if (::fcntl(read_end.get(), F_SETPIPE_SZ, ipc::kReportPipeBytes) < 0) {
    BACKUPD_LOG(kWarning) << "cannot enlarge a report pipe to " << ipc::kReportPipeBytes
                          << " bytes (" << std::strerror(errno)
                          << "): a burst of access records may be lost";
  }
  // SOCK_SEQPACKET: each request and answer arrives whole or not at all, and a closed end is seen.
  int m[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, m) != 0) {
    BACKUPD_LOG(kError) << "cannot create a monitor channel: " << std::strerror(errno);
    Throttle();
    return;
  }
  UniqueFd monitor_end(m[0]);
  UniqueFd worker_end(m[1]);
  size_t index = FreeSlotIndex();
  peers_.Release(index);
  pid_t self = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    BACKUPD_LOG(kError) << "fork failed: " << std::strerror(errno) << " -- throttling";
    Throttle();
    return;
  }
  if (pid == 0) {
    worker::WorkerArgs args;
    args.config = &s_.config;
    for (const Listener& l : s_.listeners) args.listen_fds.push_back(l.fd.get());
    for (const Listener& l : s_.tls_listeners) args.tls_listen_fds.push_back(l.fd.get());
    args.tls = s_.tls.get();
    args.report_fd = write_end.get();
    args.monitor_fd = worker_end.get();
    args.generation = board_.generation;
    args.supervisor = self;
    args.identity = s_.identity;
    args.peers = &peers_;
    args.slot = index;
    // A worker must hold only its listeners, its report pipe, its monitor channel and stdio: not
    // the other workers' pipes, not a log file, not a listener retired by a reload. close_range in
    // the child, the one place the daemon closes descriptors by number rather than through
    // UniqueFd: the owners are the parent's objects, whose copies in the child are never destroyed
    // (WorkerMain does not return), and some descriptors (Boost.Log's syslog socket) have no owner
    // of ours at all.
    std::vector<int> keep = args.listen_fds;
    keep.insert(keep.end(), args.tls_listen_fds.begin(), args.tls_listen_fds.end());
    keep.insert(keep.end(),
                {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, args.report_fd, args.monitor_fd});
    // A failure is a broken set-up: the crash throttle slows the next fork.
    if (!CloseAllBut(keep).ok()) std::abort();
    RunWorker(args);
  }
  write_end.reset();
  worker_end.reset();
  monitor_.Add(pid, std::move(monitor_end));
  WorkerSlot& slot = board_.workers[pid];
  slot.pid = pid;
  slot.generation = board_.generation;
  slot.report_fd = std::move(read_end);
  slot.index = index;
  slot.started = slot.state_since = Clock::now();
  ++board_.counters.workers_started;
  BACKUPD_LOG(kDebug) << "started worker " << pid << " (generation " << board_.generation << ")";
}

void Supervisor::ReapChildren() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    auto it = board_.workers.find(pid);
    if (it == board_.workers.end()) continue;
    WorkerSlot& w = it->second;
    // Its last access-log lines are still in the pipe. A dead worker adds nothing, but a session
    // child it left may write until its death signal lands: the batches are bounded all the same.
    for (size_t i = 0; i < kReportBatchesFromTheDead && ReadReports(w); ++i) {
    }
    // A killed worker cannot clear its own row of the peer table.
    peers_.Release(w.index);
    switch (ClassifyExit(status, w)) {
      case WorkerExit::kExpected:
        BACKUPD_LOG(kDebug) << "worker " << pid << " " << DescribeExit(status);
        break;
      case WorkerExit::kDiedStarting: {
        ++board_.counters.workers_crashed;
        bool first = throttle_delay_.count() == 0;
        Throttle();
        if (first) {
          BACKUPD_LOG(kError) << "worker " << pid << " " << DescribeExit(status)
                              << " before serving -- throttling worker startup";
        }
        break;
      }
      case WorkerExit::kCrashed:
        ++board_.counters.workers_crashed;
        BACKUPD_LOG(kWarning) << "worker " << pid << " " << DescribeExit(status)
                              << "; starting a replacement";
        break;
    }
    monitor_.Remove(pid);
    board_.workers.erase(it);  // closes its report pipe
  }
}

void Supervisor::StopWorkers(int sig, bool only_old_generation) {
  for (auto& [pid, w] : board_.workers) {
    if (only_old_generation && w.generation == board_.generation) continue;
    w.stopping = true;
    ::kill(pid, sig);
  }
}

}  // namespace backupd::daemon
