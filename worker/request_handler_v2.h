// worker (unprivileged): reads one protocol v2 request off a connection, checks it against the
// connection's login, does it in the logged-in user's folder, answers it.
#ifndef BACKUPD_WORKER_REQUEST_HANDLER_V2_H_
#define BACKUPD_WORKER_REQUEST_HANDLER_V2_H_

#include <cstdint>
#include <optional>

#include "base/status.h"
#include "protocol/wire_v2.h"
#include "worker/authenticator.h"
#include "worker/connection.h"
#include "worker/request_handler.h"
#include "worker/upload_batch.h"
#include "worker/user_dir.h"

namespace backupd::worker {

// Where a v2 connection's login stands; it lives as long as the connection.
struct Login {
  enum class Phase { kNone, kStarted, kLoggedIn };
  Phase phase = Phase::kNone;
  uint32_t user_id = 0;        // from AUTH_START on
  std::optional<UserDir> dir;  // once logged in: the folder the authenticator handed over
  UploadBatch batch;           // uploads stored, their answers waiting for the group commit
};

// Serves the v2 request whose first byte is waiting on `conn`: AUTH_* through `auth`, the file
// ops (only once `login` is kLoggedIn, and only for its user) in login.dir. The v1 handler's
// contract otherwise: never throws, the header and name (and an AUTH op's message) by
// deadlines.header, the payload at ctx.min_rate, the whole request before deadlines.request, and
// keep_open as docs/PROTOCOL.md says for the status sent. ctx.storage_fd is not used.
Handled HandleRequestV2(Connection& conn, const HandlerContext& ctx, Authenticator& auth,
                        Login& login, const RequestDeadlines& deadlines);

// The v2 status for a storage failure: NotFound 1001, NoSpace 1012, TooLarge 1011, Invalid 1010,
// anything else 1003.
protocol::v2::ResponseCode StorageStatusV2(const Status& s);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_REQUEST_HANDLER_V2_H_
