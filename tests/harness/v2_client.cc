// test process (any privilege): the raw protocol v2 client of the integration tests.
#include "tests/harness/v2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>

#include "protocol/digest.h"
#include "protocol/scram.h"
#include "protocol/wire_v2.h"

namespace backupd::testing {

namespace v2 = protocol::v2;

bool V2Client::Connect(uint16_t port) {
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval tv{5, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::string V2Client::LocalAddress() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  char host[INET_ADDRSTRLEN] = "";
  if (getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host) == nullptr) {
    return "";
  }
  return std::string(host) + ":" + std::to_string(ntohs(addr.sin_port));
}

bool V2Client::Send(std::string_view bytes) {
  return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

V2Response V2Client::Read() {
  V2Response r;
  std::array<uint8_t, v2::kResponseHeaderSize> head{};
  if (!ReadExactly(head.data(), head.size())) return r;
  v2::ResponseHeader h = v2::DecodeResponseHeader(head);
  std::string rest(
      h.name_len + h.size + (v2::HasResponseDigest(h.status) ? protocol::kDigestSize : 0), '\0');
  if (!ReadExactly(rest.data(), rest.size())) return r;
  r.status = h.status;
  r.payload = rest.substr(h.name_len, h.size);
  return r;
}

uint16_t V2Client::Login(uint32_t user, const std::string& secret,
                         const std::function<void()>& between) {
  protocol::ScramClient scram(std::to_string(user), secret, "clientnonceclientnonce");
  if (!Send(v2::EncodeAuthRequest(user, v2::Op::kAuthStart, *scram.ClientFirst()))) return 0;
  V2Response first = Read();
  if (first.status != static_cast<uint16_t>(v2::ResponseCode::kAuthContinue)) {
    return first.status;
  }
  Result<std::string> final_message = scram.ClientFinal(first.payload);
  if (!final_message.ok()) return 0;
  if (between) between();
  if (!Send(v2::EncodeAuthRequest(user, v2::Op::kAuthFinish, *final_message))) return 0;
  V2Response last = Read();
  if (last.status == static_cast<uint16_t>(v2::ResponseCode::kAuthOk) &&
      !scram.VerifyServerFinal(last.payload).ok()) {
    return 0;
  }
  return last.status;
}

uint16_t V2Client::Backup(uint32_t user, const std::string& name, const std::string& content) {
  if (!Send(v2::EncodeRequestPrefix(user, v2::Op::kBackup, name, content.size()) + content +
            v2::EncodeDigestTrailer(protocol::Sha256Of(content)))) {
    return 0;
  }
  return Read().status;
}

bool V2Client::HasResponse() {
  char c;
  return ::recv(fd_.get(), &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

bool V2Client::ReadExactly(void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t got = ::recv(fd_.get(), p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace backupd::testing
