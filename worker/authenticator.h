// worker (unprivileged): the login gate of a protocol v2 connection — what the session asks to
// check AUTH_START / AUTH_FINISH, and the stand-in that refuses every login until the monitor does.
#ifndef BACKUPD_WORKER_AUTHENTICATOR_H_
#define BACKUPD_WORKER_AUTHENTICATOR_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"
#include "protocol/wire_v2.h"

namespace backupd::worker {

// The answer to one step of a login.
struct AuthStep {
  // kAuthContinue (Start) or kAuthOk (Finish) to go on; kAuthFailed or kBusy to refuse, which
  // closes the connection. Anything else is the authenticator's bug and is answered 1003.
  protocol::v2::ResponseCode status = protocol::v2::ResponseCode::kAuthFailed;
  // The SCRAM server-first-message (220), server-final-message (221), or the refusal's text:
  // sent to the client as the response's payload, so it must not reveal more than the status.
  std::string message;
  // With kAuthOk only: an O_DIRECTORY descriptor of the user's folder, which every later request
  // of the connection is served beneath.
  UniqueFd user_dir;
};

// Checks one SCRAM-SHA-256 exchange per connection. The session calls Start once, then Finish at
// most once and only after a 220, and keeps the rules of PROTOCOL.md itself (one login per
// connection, AUTH_FINISH with the same user_id as AUTH_START), so an implementation sees only
// well-ordered calls. An error Status means the authenticator could not decide at all (its
// channel to the privileged side is broken): the client gets 1003 and the connection closes.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // AUTH_START by `user_id` with its client-first-message.
  virtual Result<AuthStep> Start(uint32_t user_id, std::string_view client_first) = 0;
  // AUTH_FINISH of the exchange Start began, with its client-final-message.
  virtual Result<AuthStep> Finish(std::string_view client_final) = 0;
};

// The worker's authenticator until the login monitor exists: every AUTH_START gets 1014 with a
// message saying so, and Finish is never reached.
class RefusingAuthenticator final : public Authenticator {
 public:
  Result<AuthStep> Start(uint32_t user_id, std::string_view client_first) override;
  Result<AuthStep> Finish(std::string_view client_final) override;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_AUTHENTICATOR_H_
