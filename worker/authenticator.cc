// worker (unprivileged): the authenticator that refuses every login, while logins cannot be
// checked on the privileged side yet.
#include "worker/authenticator.h"

namespace backupd::worker {

namespace {

AuthStep Refusal() {
  AuthStep step;
  step.status = protocol::v2::ResponseCode::kAuthFailed;
  step.message = "logins are not enabled on this server yet";
  return step;
}

}  // namespace

Result<AuthStep> RefusingAuthenticator::Start(uint32_t, std::string_view) { return Refusal(); }

Result<AuthStep> RefusingAuthenticator::Finish(std::string_view) { return Refusal(); }

}  // namespace backupd::worker
