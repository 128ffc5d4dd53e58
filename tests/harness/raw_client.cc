// test process (any privilege): a protocol v1 client over a plain TCP socket.
#include "tests/harness/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace backupd::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A response payload larger than this is a broken server, not a file a test sent.
constexpr uint32_t kMaxPayload = 64u << 20;

int RemainingMillis(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

RawClient::~RawClient() { Close(); }

Status RawClient::Connect(uint16_t port) { return ConnectFrom("127.0.0.1", port); }

Status RawClient::ConnectFrom(const std::string& source, uint16_t port) {
  Close();
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return Status::FromErrno(errno, "socket");
  sockaddr_in from{};
  from.sin_family = AF_INET;
  if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
      bind(fd_, reinterpret_cast<const sockaddr*>(&from), sizeof(from)) != 0) {
    Status s = Status::FromErrno(errno, "bind to " + source);
    Close();
    return s;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = Status::FromErrno(errno, "connect");
    Close();
    return s;
  }
  return Status::Ok();
}

std::string RawClient::LocalAddress() const {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  char host[INET_ADDRSTRLEN] = "";
  if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host) == nullptr) {
    return "";
  }
  return std::string(host) + ":" + std::to_string(ntohs(addr.sin_port));
}

void RawClient::Close() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Status RawClient::Send(std::string_view bytes) {
  if (fd_ < 0) return Status::Closed("not connected");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE || errno == ECONNRESET) return Status::Closed("send: peer closed");
      return Status::FromErrno(errno, "send");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status RawClient::ReadExact(char* buf, size_t n, Clock::time_point deadline) {
  size_t done = 0;
  while (done < n) {
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, RemainingMillis(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "poll");
    if (r == 0) return Status::Timeout("no response before the deadline");
    ssize_t got = recv(fd_, buf + done, n - done, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == ECONNRESET) return Status::Closed("connection reset");
    if (got < 0) return Status::FromErrno(errno, "recv");
    if (got == 0) return Status::Closed("server closed the connection");
    done += static_cast<size_t>(got);
  }
  return Status::Ok();
}

Result<Response> RawClient::ReadResponse(std::chrono::milliseconds timeout) {
  return ReadResponseStreaming(nullptr, timeout);
}

Result<Response> RawClient::ReadResponseStreaming(const std::function<void(std::string_view)>& sink,
                                                  std::chrono::milliseconds timeout) {
  if (fd_ < 0) return Status::Closed("not connected");
  const auto deadline = Clock::now() + timeout;
  std::array<uint8_t, protocol::kResponseHeaderSize> head{};
  Status s = ReadExact(reinterpret_cast<char*>(head.data()), head.size(), deadline);
  if (!s.ok()) return s;
  protocol::ResponseHeader h = protocol::DecodeResponseHeader(head);
  Response r;
  r.version = h.version;
  r.status = h.status;
  r.name.resize(h.name_len);
  s = ReadExact(r.name.data(), r.name.size(), deadline);
  if (!s.ok()) return s;
  if (protocol::HasResponsePayload(h.status)) {
    r.has_payload = true;
    std::array<uint8_t, protocol::kSizeFieldSize> size_bytes{};
    s = ReadExact(reinterpret_cast<char*>(size_bytes.data()), size_bytes.size(), deadline);
    if (!s.ok()) return s;
    uint32_t size = protocol::GetU32(size_bytes.data());
    if (sink) {
      std::string chunk;
      for (uint32_t left = size; left > 0;) {
        chunk.resize(std::min<uint32_t>(left, 1u << 20));
        s = ReadExact(chunk.data(), chunk.size(), deadline);
        if (!s.ok()) return s;
        sink(chunk);
        left -= static_cast<uint32_t>(chunk.size());
      }
      return r;
    }
    if (size > kMaxPayload) {
      return Status::TooLarge("response payload size " + std::to_string(size));
    }
    r.payload.resize(size);
    s = ReadExact(r.payload.data(), r.payload.size(), deadline);
    if (!s.ok()) return s;
  }
  return r;
}

Result<Response> RawClient::Call(uint32_t user_id, protocol::Op op, std::string_view name,
                                 std::string_view payload) {
  std::string bytes = RequestBytes(user_id, op, name, static_cast<uint32_t>(payload.size()));
  bytes.append(payload);
  Status s = Send(bytes);
  if (!s.ok()) return s;
  return ReadResponse();
}

bool RawClient::WaitClosed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, RemainingMillis(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    char c;
    ssize_t got = recv(fd_, &c, 1, 0);
    if (got < 0 && errno == EINTR) continue;
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }
}

std::string RawHeader(uint32_t user_id, uint8_t version, uint8_t op, uint16_t name_len) {
  protocol::RequestHeader h;
  h.user_id = user_id;
  h.version = version;
  h.op = op;
  h.name_len = name_len;
  auto bytes = protocol::EncodeRequestHeader(h);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::string RequestBytes(uint32_t user_id, protocol::Op op, std::string_view name,
                         uint32_t payload_size) {
  return protocol::EncodeRequestPrefix(user_id, op, name, payload_size);
}

}  // namespace backupd::testing
