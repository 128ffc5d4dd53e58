// worker (unprivileged): requests to the login monitor and the wait for their answers.
#include "worker/monitor_authenticator.h"

#include <poll.h>

#include <cerrno>

#include "protocol/wire_v2.h"

namespace backupd::worker {

namespace {

using ipc::MonitorRequestType;
using Clock = std::chrono::steady_clock;

template <typename Request>
Request Make(MonitorRequestType type) {
  Request r;
  r.header.type = static_cast<uint8_t>(type);
  return r;
}

}  // namespace

template <typename Request>
Result<AuthStep> MonitorAuthenticator::Ask(Request& request) {
  request.header.sequence = ++sequence_;
  Status sent = ipc::SendMonitorMessage(fd_, request);
  if (!sent.ok()) return sent;
  return Await(request.header.sequence);
}

Result<AuthStep> MonitorAuthenticator::Await(uint32_t sequence) {
  const Clock::time_point deadline = Clock::now() + timeout_;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Status::Timeout("the login monitor did not answer");
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return Status::FromErrno(errno, "monitor channel");
    if (n <= 0) continue;
    ipc::MonitorAnswer answer;
    Result<ipc::ReceivedMessage> got = ipc::ReceiveMonitorMessage(fd_, &answer, sizeof answer);
    if (!got.ok()) {
      if (got.status().code() == Status::Code::kTimeout) continue;
      return got.status();
    }
    if (got->size != sizeof answer || answer.header.magic != ipc::kMonitorMagic ||
        answer.length > ipc::kMonitorMaxText) {
      return Status::Invalid("a malformed answer from the login monitor");
    }
    // The late answer to a request that timed out: dropped, with any folder it carried.
    if (answer.header.sequence != sequence) continue;
    AuthStep reply;
    reply.status = static_cast<protocol::v2::ResponseCode>(answer.status);
    reply.message = std::string(ipc::GetText(answer.text, answer.length));
    reply.user_dir = std::move(got->fd);
    return reply;
  }
}

Status MonitorAuthenticator::EndConnection() {
  auto r = Make<ipc::ResetRequest>(MonitorRequestType::kReset);
  r.header.sequence = ++sequence_;
  peer_ = {};
  return ipc::SendMonitorMessage(fd_, r);
}

Result<AuthStep> MonitorAuthenticator::Start(uint32_t user_id, std::string_view client_first) {
  auto r = Make<ipc::AuthStartRequest>(MonitorRequestType::kAuthStart);
  r.user_id = user_id;
  r.peer = peer_;
  if (!ipc::SetText(r.text, &r.length, client_first)) {
    return Status::TooLarge("client-first-message over the monitor's limit");
  }
  return Ask(r);
}

Result<AuthStep> MonitorAuthenticator::Finish(std::string_view client_final) {
  auto r = Make<ipc::AuthFinishRequest>(MonitorRequestType::kAuthFinish);
  if (!ipc::SetText(r.text, &r.length, client_final)) {
    return Status::TooLarge("client-final-message over the monitor's limit");
  }
  return Ask(r);
}

Result<UniqueFd> MonitorAuthenticator::V1Folder(uint32_t user_id, bool create) {
  auto r = Make<ipc::LegacyV1Request>(MonitorRequestType::kLegacyV1);
  r.user_id = user_id;
  r.peer = peer_;
  r.create = create ? 1 : 0;
  Result<AuthStep> reply = Ask(r);
  if (!reply.ok()) return reply.status();
  switch (reply->status) {
    case protocol::v2::ResponseCode::kOk:
      if (!reply->user_dir.valid()) return Status::IoError("the monitor sent no folder");
      return std::move(reply->user_dir);
    case protocol::v2::ResponseCode::kNotFound:
      return Status::NotFound("no folder for user " + std::to_string(user_id));
    case protocol::v2::ResponseCode::kAuthRequired:
      return Status::Denied(reply->message);
    default:
      return Status::IoError(reply->message);
  }
}

}  // namespace backupd::worker
