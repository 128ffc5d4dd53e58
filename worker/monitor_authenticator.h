// worker (unprivileged): the worker's end of its channel to the supervisor's login monitor —
// relays a login's SCRAM messages and asks for a v1 request's folder, each a request and its
// answer within a deadline.
#ifndef BACKUPD_WORKER_MONITOR_AUTHENTICATOR_H_
#define BACKUPD_WORKER_MONITOR_AUTHENTICATOR_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"
#include "ipc/monitor_messages.h"
#include "worker/authenticator.h"
#include "worker/folder_source.h"

namespace backupd::worker {

// One per worker, used by one connection at a time: BeginConnection when it is accepted,
// EndConnection when it ends (the monitor then accepts a new login on the channel; until then it
// accepts nothing after a login). Every call waits for its answer at most `timeout`; a monitor
// that does not answer in time, or is gone, is an error Status, never a hang.
class MonitorAuthenticator final : public Authenticator, public FolderSource {
 public:
  MonitorAuthenticator(int channel_fd, std::chrono::milliseconds timeout)
      : fd_(channel_fd), timeout_(timeout) {}

  void BeginConnection(const ipc::MonitorPeer& peer) { peer_ = peer; }
  Status EndConnection();

  Result<AuthStep> Start(uint32_t user_id, std::string_view client_first) override;
  Result<AuthStep> Finish(std::string_view client_final) override;

  Result<UniqueFd> V1Folder(uint32_t user_id, bool create) override;

 private:
  // Sends `request` (its header's sequence set here) and waits for the answer to it: its status
  // (a protocol v2 code), text and folder.
  template <typename Request>
  Result<AuthStep> Ask(Request& request);
  Result<AuthStep> Await(uint32_t sequence);

  int fd_;
  std::chrono::milliseconds timeout_;
  ipc::MonitorPeer peer_;
  uint32_t sequence_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_MONITOR_AUTHENTICATOR_H_
