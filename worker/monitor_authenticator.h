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
#include "worker/folder_source.h"

namespace backupd::worker {

// The monitor's answer to a login step.
struct MonitorReply {
  uint16_t status = 0;  // a protocol v2 response code: 220, 221, 1014, 1015, 1003
  std::string message;  // the SCRAM server message, or the refusal's text for the client
  UniqueFd user_dir;    // with 221 only: the user's folder
};

// One per worker, used by one connection at a time: BeginConnection when it is accepted,
// EndConnection when it ends (the monitor then accepts a new login on the channel; until then it
// accepts nothing after a login). Every call waits for its answer at most `timeout`; a monitor
// that does not answer in time, or is gone, is an error Status, never a hang.
class MonitorAuthenticator final : public FolderSource {
 public:
  MonitorAuthenticator(int channel_fd, std::chrono::milliseconds timeout)
      : fd_(channel_fd), timeout_(timeout) {}

  void BeginConnection(const ipc::MonitorPeer& peer) { peer_ = peer; }
  Status EndConnection();

  // AUTH_START by `user_id` with its client-first-message, and AUTH_FINISH's client-final.
  Result<MonitorReply> Start(uint32_t user_id, std::string_view client_first);
  Result<MonitorReply> Finish(std::string_view client_final);

  Result<UniqueFd> V1Folder(uint32_t user_id, bool create) override;

 private:
  // Sends `request` (its header's sequence set here) and waits for the answer to it.
  template <typename Request>
  Result<MonitorReply> Ask(Request& request);
  Result<MonitorReply> Await(uint32_t sequence);

  int fd_;
  std::chrono::milliseconds timeout_;
  ipc::MonitorPeer peer_;
  uint32_t sequence_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_MONITOR_AUTHENTICATOR_H_
