// command line (any user): `backupd status` — reads the table from the status socket and prints it.
#include "daemon/scoreboard_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"

namespace backupd::daemon {

namespace {

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

int PrintScoreboard(const std::string& socket_path, std::ostream& out, std::ostream& err,
                    std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) {
    err << "backupd: status socket path '" << socket_path << "' is empty or too long\n";
    return kExitError;
  }
  socket_path.copy(addr.sun_path, socket_path.size());

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    err << "backupd: cannot create a socket: " << std::strerror(errno) << "\n";
    return kExitError;
  }
  // A unix-socket connect waits for room in a full backlog for up to SO_SNDTIMEO.
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000);
  if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;  // zero would mean "wait forever"
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const struct sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR && RemainingMs(deadline) > 0);
  if (rc != 0) {
    int e = errno;
    err << "backupd: cannot reach backupd at " << socket_path << ": " << std::strerror(e);
    if (e == ENOENT || e == ECONNREFUSED) {
      err << " (is it running?)\n";
      return kExitNotRunning;
    }
    if (e == EACCES) err << " (the status is readable by root and the status_group)";
    if (e == EAGAIN || e == EINPROGRESS) err << " (timed out)";
    err << "\n";
    return kExitError;
  }

  std::string answer;
  char buf[8192];
  for (;;) {
    struct pollfd p = {fd.get(), POLLIN, 0};
    int left = RemainingMs(deadline);
    int n = left > 0 ? ::poll(&p, 1, left) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err << "backupd: cannot wait for " << socket_path << ": " << std::strerror(errno) << "\n";
      return kExitError;
    }
    if (n == 0) {
      err << "backupd: no complete answer from backupd at " << socket_path << " within "
          << timeout.count() << " ms\n";
      return kExitError;
    }
    ssize_t got = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) {
      err << "backupd: cannot read from " << socket_path << ": " << std::strerror(errno) << "\n";
      return kExitError;
    }
    if (got == 0) break;
    answer.append(buf, static_cast<size_t>(got));
  }
  if (answer.empty()) {
    err << "backupd: backupd at " << socket_path
        << " closed the connection without answering (only root and the status_group may read"
           " the status)\n";
    return kExitError;
  }
  out << answer;
  out.flush();
  return out ? kExitRunning : kExitError;
}

}  // namespace backupd::daemon
