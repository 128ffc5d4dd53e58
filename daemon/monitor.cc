// supervisor (root): the login monitor — the privileged half of a login: SCRAM proofs checked
// against the users file, failed logins throttled per address, users' folders opened and passed.
#include "daemon/monitor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/random.h"
#include "base/text.h"
#include "daemon/log.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"

namespace backupd::daemon {

static_assert(ipc::kMonitorMaxText >= protocol::kScramMaxMessage,
              "a monitor message must hold any SCRAM message the worker may relay");

namespace {

using ipc::MonitorRequestType;
using V2 = protocol::v2::ResponseCode;

// A worker's requests served in one turn of the supervisor's loop: one flooding its channel
// must not keep the loop from everything else.
constexpr int kMaxRequestsPerTurn = 16;

uint16_t Code(V2 c) { return static_cast<uint16_t>(c); }
uint16_t Code(protocol::ResponseCode c) { return static_cast<uint16_t>(c); }

std::string Peer(const ipc::MonitorPeer& p) {
  return FormatHostPort(FormatAddress(p.address), p.port);
}

bool V1Allowed(conf::LegacyV1 mode, const ipc::PeerAddress& address) {
  switch (mode) {
    case conf::LegacyV1::kOff:
      return false;
    case conf::LegacyV1::kLoopback:
      return IsLoopback(address);
    case conf::LegacyV1::kOn:
      return true;
  }
  return false;
}

// Decodes a request of exactly its type's size; nothing for any other size.
template <typename Request>
std::optional<Request> Decode(const void* message, size_t size) {
  if (size != sizeof(Request)) return std::nullopt;
  Request r;
  std::memcpy(&r, message, sizeof r);
  return r;
}

}  // namespace

bool IsLoopback(const ipc::PeerAddress& a) {
  const bool zeros10 = std::all_of(a.begin(), a.begin() + 10, [](uint8_t b) { return b == 0; });
  if (zeros10 && a[10] == 0xff && a[11] == 0xff) return a[12] == 127;
  return std::all_of(a.begin(), a.begin() + 15, [](uint8_t b) { return b == 0; }) && a[15] == 1;
}

std::string FormatAddress(const ipc::PeerAddress& a) {
  char text[INET6_ADDRSTRLEN] = "?";
  const bool mapped = std::all_of(a.begin(), a.begin() + 10, [](uint8_t b) { return b == 0; }) &&
                      a[10] == 0xff && a[11] == 0xff;
  if (mapped) {
    ::inet_ntop(AF_INET, a.data() + 12, text, sizeof text);
  } else {
    ::inet_ntop(AF_INET6, a.data(), text, sizeof text);
  }
  return text;
}

Result<MonitorSettings> LoadMonitorSettings(const conf::Config& config,
                                            const worker::Identity& identity) {
  MonitorSettings s;
  s.storage.reset(::open(config.storage.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!s.storage.valid()) return Status::FromErrno(errno, "cannot open " + config.storage);
  s.folder_uid = identity.uid;
  s.folder_gid = identity.gid;
  s.legacy_v1 = config.legacy_v1;
  return s;
}

Result<Users> LoadUsersOrNone(const std::string& path) {
  Result<Users> users = LoadUsersFile(path);
  if (!users.ok() && users.status().code() == Status::Code::kNotFound) return Users();
  return users;
}

Result<Monitor> Monitor::Create(MonitorSettings settings, Users users,
                                LoginThrottle::Limits limits) {
  Key key{};
  Status s = RandomBytes(key.data(), key.size());
  if (!s.ok()) return s;
  return Monitor(std::move(settings), std::move(users), limits, key);
}

void Monitor::Add(pid_t worker, UniqueFd channel) {
  Channel c;
  c.fd = std::move(channel);
  channels_[worker] = std::move(c);
}

std::vector<std::pair<pid_t, int>> Monitor::Channels() const {
  std::vector<std::pair<pid_t, int>> out;
  for (const auto& [pid, c] : channels_) out.emplace_back(pid, c.fd.get());
  return out;
}

Status Monitor::Serve(pid_t worker, Clock::time_point now) {
  auto it = channels_.find(worker);
  if (it == channels_.end()) return Status::Ok();
  Channel& c = it->second;
  for (int i = 0; i < kMaxRequestsPerTurn; ++i) {
    alignas(8) unsigned char buf[ipc::kMonitorMaxRequest];
    Result<ipc::ReceivedMessage> got = ipc::ReceiveMonitorMessage(c.fd.get(), buf, sizeof buf);
    if (!got.ok()) {
      return got.status().code() == Status::Code::kTimeout ? Status::Ok() : got.status();
    }
    if (got->fd.valid()) return Status::Invalid("a descriptor sent to the monitor");
    if (got->size < sizeof(ipc::MonitorHeader)) return Status::Invalid("a truncated request");
    ipc::MonitorHeader header;
    std::memcpy(&header, buf, sizeof header);
    if (header.magic != ipc::kMonitorMagic) return Status::Invalid("a request with a bad magic");
    Result<std::optional<Answer>> answer = Handle(c, buf, got->size, now);
    if (!answer.ok()) return answer.status();
    if (!answer->has_value()) continue;
    ipc::MonitorAnswer reply;
    reply.header.sequence = header.sequence;
    reply.header.type = header.type;
    reply.status = (*answer)->status;
    // Every text the monitor makes is short; a SCRAM answer is bounded by the messages it
    // answers. Cut rather than fail, should one ever not fit.
    const std::string& text = (*answer)->text;
    ipc::SetText(reply.text, &reply.length,
                 std::string_view(text).substr(0, std::min(text.size(), ipc::kMonitorMaxText)));
    Status sent = ipc::SendMonitorMessage(c.fd.get(), reply, (*answer)->folder.get());
    // A worker that does not read its answers fills its own channel: its request times out.
    if (sent.code() == Status::Code::kTimeout) {
      BACKUPD_LOG(kWarning) << "worker " << worker << " is not reading the monitor's answers";
    } else if (!sent.ok()) {
      return sent;
    }
  }
  return Status::Ok();
}

Result<std::optional<Monitor::Answer>> Monitor::Handle(Channel& c, const void* message, size_t size,
                                                       Clock::time_point now) {
  ipc::MonitorHeader header;
  std::memcpy(&header, message, sizeof header);
  switch (static_cast<MonitorRequestType>(header.type)) {
    case MonitorRequestType::kAuthStart: {
      std::optional<ipc::AuthStartRequest> r = Decode<ipc::AuthStartRequest>(message, size);
      if (!r || r->length > ipc::kMonitorMaxText) return Status::Invalid("a malformed AuthStart");
      if (c.state != State::kIdle) return Status::Invalid("AuthStart out of order");
      return std::optional<Answer>(AuthStart(c, *r, now));
    }
    case MonitorRequestType::kAuthFinish: {
      std::optional<ipc::AuthFinishRequest> r = Decode<ipc::AuthFinishRequest>(message, size);
      if (!r || r->length > ipc::kMonitorMaxText) return Status::Invalid("a malformed AuthFinish");
      if (c.state != State::kStarted) return Status::Invalid("AuthFinish out of order");
      return std::optional<Answer>(AuthFinish(c, *r, now));
    }
    case MonitorRequestType::kLegacyV1: {
      std::optional<ipc::LegacyV1Request> r = Decode<ipc::LegacyV1Request>(message, size);
      if (!r || r->create > 1) return Status::Invalid("a malformed LegacyV1");
      if (c.state != State::kIdle && c.state != State::kV1) {
        return Status::Invalid("LegacyV1 out of order");
      }
      c.state = State::kV1;
      return std::optional<Answer>(LegacyV1(*r));
    }
    case MonitorRequestType::kReset:
      if (!Decode<ipc::ResetRequest>(message, size)) return Status::Invalid("a malformed Reset");
      c.state = State::kIdle;
      c.scram.reset();
      return std::optional<Answer>();
  }
  return Status::Invalid("an unknown request type " + std::to_string(header.type));
}

std::optional<Monitor::Answer> Monitor::Throttled(Channel& c, Clock::time_point now) {
  std::chrono::seconds wait = throttle_.Wait(c.peer.address, now);
  if (wait.count() == 0) return std::nullopt;
  c.state = State::kRefused;
  c.scram.reset();
  Answer a;
  a.status = Code(V2::kBusy);
  a.text = "too many failed logins from " + FormatAddress(c.peer.address) + ", try again in " +
           std::to_string(wait.count()) + " s";
  return a;
}

Monitor::Answer Monitor::Failed(Channel& c, const std::string& why, Clock::time_point now) {
  c.state = State::kRefused;
  c.scram.reset();
  BACKUPD_LOG(kWarning) << "authentication failed for user " << c.user_id << " from "
                        << Peer(c.peer) << ": " << why;
  std::chrono::seconds cool_down = throttle_.Fail(c.peer.address, now);
  if (cool_down.count() > 0) {
    BACKUPD_LOG(kWarning) << "too many failed logins from " << FormatAddress(c.peer.address)
                          << ": refusing its logins for " << cool_down.count() << " s";
  }
  Answer a;
  a.status = Code(V2::kAuthFailed);
  a.text = "authentication failed for user " + std::to_string(c.user_id);
  return a;
}

Monitor::Answer Monitor::AuthStart(Channel& c, const ipc::AuthStartRequest& r,
                                   Clock::time_point now) {
  c.user_id = r.user_id;
  c.peer = r.peer;
  if (std::optional<Answer> busy = Throttled(c, now)) return std::move(*busy);
  Result<protocol::ScramServer> server =
      protocol::ScramServer::Start(ipc::GetText(r.text, r.length));
  if (!server.ok()) return Failed(c, server.status().message(), now);
  if (protocol::ParseScramUserId(server->user()) != r.user_id) {
    return Failed(c, "client-first names another user", now);
  }
  auto user = users_.find(r.user_id);
  c.known = user != users_.end();
  Result<protocol::ScramVerifier> verifier =
      c.known ? Result<protocol::ScramVerifier>(user->second) : FakeVerifier(r.user_id);
  Result<std::string> nonce = RandomToken(protocol::kScramNonceBytes);
  Result<std::string> first = !verifier.ok() ? Result<std::string>(verifier.status())
                              : !nonce.ok()  ? Result<std::string>(nonce.status())
                                             : server->ServerFirst(*verifier, *nonce);
  if (!first.ok()) {
    BACKUPD_LOG(kError) << "login of user " << r.user_id << " from " << Peer(c.peer) << ": "
                        << first.status().message();
    c.state = State::kRefused;
    return Answer{Code(V2::kError), "server error", UniqueFd()};
  }
  c.scram.emplace(std::move(*server));
  c.state = State::kStarted;
  return Answer{Code(V2::kAuthContinue), std::move(*first), UniqueFd()};
}

Monitor::Answer Monitor::AuthFinish(Channel& c, const ipc::AuthFinishRequest& r,
                                    Clock::time_point now) {
  // Exchanges started in parallel from an address are cut short once it fails too often.
  if (std::optional<Answer> busy = Throttled(c, now)) return std::move(*busy);
  Result<std::string> final_message = c.scram->ServerFinal(ipc::GetText(r.text, r.length));
  c.scram.reset();
  if (!final_message.ok()) {
    return Failed(c, c.known ? final_message.status().message() : "no such user", now);
  }
  // Unreachable for a made-up verifier, whose keys no secret yields; checked all the same.
  if (!c.known) return Failed(c, "no such user", now);
  Result<UniqueFd> folder = OpenFolder(c.user_id, true);
  if (!folder.ok()) {
    BACKUPD_LOG(kError) << "user " << c.user_id << " logged in from " << Peer(c.peer)
                        << " but their folder cannot be opened: " << folder.status().message();
    c.state = State::kRefused;
    return Answer{Code(V2::kError), "server error", UniqueFd()};
  }
  BACKUPD_LOG(kInfo) << "user " << c.user_id << " logged in from " << Peer(c.peer);
  c.state = State::kLoggedIn;
  return Answer{Code(V2::kAuthOk), std::move(*final_message), std::move(*folder)};
}

Monitor::Answer Monitor::LegacyV1(const ipc::LegacyV1Request& r) {
  if (!V1Allowed(settings_.legacy_v1, r.peer.address)) {
    std::string why = "v1 refused from " + FormatAddress(r.peer.address) +
                      ": legacy_v1 = " + conf::LegacyV1Name(settings_.legacy_v1);
    BACKUPD_LOG(kWarning) << why;
    return Answer{Code(V2::kAuthRequired), std::move(why), UniqueFd()};
  }
  Result<UniqueFd> folder = OpenFolder(r.user_id, r.create != 0);
  if (folder.ok()) return Answer{Code(protocol::ResponseCode::kOk), "", std::move(*folder)};
  if (r.create == 0 && folder.status().code() == Status::Code::kNotFound) {
    return Answer{Code(protocol::ResponseCode::kNotFound), "", UniqueFd()};
  }
  BACKUPD_LOG(kError) << "v1 request for user " << r.user_id << " from " << Peer(r.peer) << ": "
                      << folder.status().message();
  return Answer{Code(protocol::ResponseCode::kError), "server error", UniqueFd()};
}

Result<protocol::ScramVerifier> Monitor::FakeVerifier(uint32_t user_id) const {
  // RFC 5802 section 5.1: the same made-up salt for the same unknown user every time, from a
  // key only this daemon knows, so a second look does not give them away either.
  auto derive = [&](const std::string& label, protocol::ScramKey* out) {
    const std::string input = label + std::to_string(user_id);
    unsigned int len = 0;
    return HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), out->data(),
                &len) != nullptr &&
           len == out->size();
  };
  protocol::ScramVerifier v;
  protocol::ScramKey salt{};
  if (!derive("salt:", &salt) || !derive("stored:", &v.stored_key) ||
      !derive("server:", &v.server_key)) {
    return Status::IoError("HMAC-SHA-256 failed");
  }
  v.salt.assign(reinterpret_cast<const char*>(salt.data()), protocol::kScramSaltBytes);
  v.iterations = protocol::kScramIterations;
  return v;
}

Result<UniqueFd> Monitor::OpenFolder(uint32_t user_id, bool create) {
  // One component beneath a descriptor opened as root, and O_NOFOLLOW: a symlink planted in
  // the storage root (whose owner is the workers' user) is refused, not followed.
  const std::string name = std::to_string(user_id);
  const int storage = settings_.storage.get();
  bool made = false;
  if (create) {
    if (::mkdirat(storage, name.c_str(), 0700) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      return Status::FromErrno(errno, "cannot create folder " + name);
    }
  }
  UniqueFd fd(::openat(storage, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "cannot open folder " + name);
  // mkdirat's mode passes through the umask, and root made it: the workers' user must own it.
  if (made && (::fchown(fd.get(), settings_.folder_uid, settings_.folder_gid) != 0 ||
               ::fchmod(fd.get(), 0700) != 0)) {
    return Status::FromErrno(errno, "cannot give folder " + name + " to the workers' user");
  }
  return fd;
}

}  // namespace backupd::daemon
