// supervisor (root): the status socket `backupd status` reads the scoreboard from. Serving it
// never blocks the supervisor's loop.
#ifndef BACKUPD_DAEMON_SCOREBOARD_SERVER_H_
#define BACKUPD_DAEMON_SCOREBOARD_SERVER_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/scoreboard.h"

namespace backupd::daemon {

// Who is on the other end of a status connection (SO_PEERCRED and SO_PEERGROUPS).
struct PeerCredentials {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups
};

// Root, the user the supervisor runs as, or a member of `group` ((gid_t)-1 = no group) may read
// the status. Decided from the kernel's view of the peer: no NSS lookup, which could block.
bool MayReadStatus(const PeerCredentials& peer, gid_t group, uid_t self_uid);

// A listening unix socket that answers every connection with the rendered status table and
// closes it. Owns the socket file: it is removed when the server is closed or destroyed, unless
// something else has replaced it meanwhile, and only by the process that created it (a forked
// worker leaving through destructors cannot remove it).
class ScoreboardServer {
 public:
  // Creates the socket at `path`, non-blocking and close-on-exec. A stale socket there is
  // replaced; any other kind of file is refused (Denied). Mode 0600, or 0660 with group `group`
  // when one is given ((gid_t)-1 = root only).
  static Result<ScoreboardServer> Listen(const std::string& path, gid_t group);

  ScoreboardServer(ScoreboardServer&& other) noexcept;
  ScoreboardServer& operator=(ScoreboardServer&& other) noexcept;
  ScoreboardServer(const ScoreboardServer&) = delete;
  ScoreboardServer& operator=(const ScoreboardServer&) = delete;
  ~ScoreboardServer();

  // For the supervisor's ppoll (POLLIN: connections are pending); -1 once closed.
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

  // Accepts the pending connections (a bounded number per call, so a flood cannot starve the
  // loop; the rest stay pending and keep fd() readable), sends each permitted peer the table
  // without waiting and closes it. A client that does not read gets a truncated table; a peer
  // that may not read gets no answer at all.
  void ServePending(const Scoreboard& board, std::chrono::steady_clock::time_point now);

  // Stops listening and removes the socket file if it is still ours. Idempotent.
  void Close();

 private:
  ScoreboardServer() = default;

  UniqueFd fd_;
  std::string path_;
  gid_t group_ = static_cast<gid_t>(-1);
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  pid_t owner_ = 0;
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_SCOREBOARD_SERVER_H_
