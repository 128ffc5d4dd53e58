// client (the user's privilege): resolving, connecting and exact-length socket I/O.
#include "client/connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "base/openssl_error.h"

namespace backupd::client {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Why the first bytes a peer sent cannot come from a backupd server speaking `version`, from the
// usual suspects' opening bytes: an HTTP status line, a TLS record (alert 0x15 or handshake 0x16,
// version 3.x), an SSH banner (sent before any request), or a small version byte from a backupd
// of another version.
std::string NotBackupd(const std::string& peer, std::string_view seen, uint8_t version) {
  if (StartsWith(seen, "HTTP/"))
    return peer + " is not a backupd server (it answers like an HTTP server)";
  if (StartsWith(seen, "SSH-"))
    return peer + " is not a backupd server (it answers like an SSH server)";
  if (seen.size() >= 2 && (seen[0] == '\x15' || seen[0] == '\x16') && seen[1] == '\x03') {
    return peer + " is not a backupd server (it answers like a TLS server)";
  }
  const auto seen_version = static_cast<uint8_t>(seen[0]);
  // A v1-only backupd refuses a v2 request with a v1 1003; the user can still ask for v1.
  if (seen_version == 1 && version == 2) {
    return peer + " speaks only protocol version 1 (give --protocol 1 to use it, unauthenticated)";
  }
  if (seen_version >= 1 && seen_version <= 15) {
    return peer + " answers with protocol version " + std::to_string(seen_version) + ", expected " +
           std::to_string(version);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string bytes;
  for (char c : seen) {
    const auto b = static_cast<uint8_t>(c);
    bytes += std::string(bytes.empty() ? "" : " ") + kHex[b >> 4] + kHex[b & 15];
  }
  return peer + " is not a backupd server (its answer begins with bytes " + bytes + ")";
}

// How many of a foreign answer's first bytes are shown and classified.
constexpr size_t kSniffLen = 8;

// Connects a fresh non-blocking socket to one address within `timeout`, then makes it blocking.
// Returns the descriptor, or an empty one with errno set.
UniqueFd ConnectOne(const addrinfo& ai, std::chrono::milliseconds timeout) {
  UniqueFd fd(socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd.valid()) return fd;
  // Closing must not clobber the errno the caller reports.
  auto fail = [&fd](int err) {
    fd.reset();
    errno = err;
    return UniqueFd();
  };
  int rc = connect(fd.get(), ai.ai_addr, ai.ai_addrlen);
  if (rc < 0 && errno == EINPROGRESS) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int wait_ms = -1;
      if (timeout.count() > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return fail(ETIMEDOUT);
        wait_ms = static_cast<int>(left.count());
      }
      pollfd pfd{fd.get(), POLLOUT, 0};
      int n = poll(&pfd, 1, wait_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail(errno);
      if (n == 0) continue;
      int so_error = 0;
      socklen_t len = sizeof(so_error);
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) < 0) so_error = errno;
      rc = so_error == 0 ? 0 : -1;
      errno = so_error;
      break;
    }
  }
  if (rc < 0) return fail(errno);
  // A request's header and its payload go in separate writes: with Nagle the second waits for the
  // server's delayed ACK of the first (~40 ms a request).
  const int one = 1;
  if (setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) return fail(errno);
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return fail(errno);
  return fd;
}

}  // namespace

Result<Connection> Connection::Open(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  const std::string where = FormatEndpoint(endpoint);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(endpoint.port);
  int gai = getaddrinfo(endpoint.host.c_str(), port.c_str(), &hints, &list);
  if (gai != 0) {
    if (gai == EAI_SYSTEM) return Status::FromErrno(errno, "resolve " + where);
    return Status::NotFound("resolve " + where + ": " + gai_strerror(gai));
  }
  Status last = Status::NotFound("resolve " + where + ": no address");
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd = ConnectOne(*ai, timeout);
    if (fd.valid()) {
      freeaddrinfo(list);
      Connection conn(std::move(fd), where);
      Status st = conn.SetTimeout(timeout);
      if (!st.ok()) return st;
      return conn;
    }
    const int err = errno;
    last = Status::FromErrno(err, "connect to " + where);
    // Nothing listens on that port: the usual cause is a daemon not started or a wrong port.
    if (err == ECONNREFUSED) last = Status::IoError(last.message() + "; is backupd running there?");
  }
  freeaddrinfo(list);
  return last;
}

Connection Connection::Adopt(int fd, std::chrono::milliseconds timeout, std::string peer) {
  Connection conn(UniqueFd(fd), std::move(peer));
  // A socketpair accepts these options; a failure only loses the deadline, which tests don't need.
  (void)conn.SetTimeout(timeout);
  return conn;
}

Status Connection::StartTls(const std::string& host, const TlsOptions& options) {
  Result<SslPtr> ssl = TlsConnect(fd_.get(), host, peer_, options);
  if (!ssl.ok()) return ssl.status();
  ssl_ = std::move(*ssl);
  return Status::Ok();
}

void Connection::Close() {
  // close_notify, so the server sees an orderly end; its failure changes nothing.
  if (ssl_) SSL_shutdown(ssl_.get());
  ssl_.reset();
  fd_.reset();
}

namespace {

// A failed SSL_read/SSL_write as the Status a plain recv/send failure would give.
Status SslFailure(SSL* ssl, int rc, const char* what, const char* timed_out) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      ERR_clear_error();
      return Status::Timeout(timed_out);
    case SSL_ERROR_ZERO_RETURN:
      return Status::Closed("server closed the connection");
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == 0) return Status::Closed("server closed the connection");
      return Status::FromErrno(saved_errno, what);
    default:
      return Status::IoError(std::string(what) + ": " + TakeOpenSslError("TLS error"));
  }
}

}  // namespace

Status Connection::SetTimeout(std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
      setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
    return Status::FromErrno(errno, "set socket timeout");
  }
  return Status::Ok();
}

Status Connection::WriteAll(const void* data, size_t len) {
  if (!fd_.valid()) return Status::Closed("not connected");
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    if (ssl_) {
      size_t sent = 0;
      ERR_clear_error();
      int rc = SSL_write_ex(ssl_.get(), p, len, &sent);
      if (rc != 1) return SslFailure(ssl_.get(), rc, "send to server", "send to server: timed out");
      p += sent;
      len -= sent;
      continue;
    }
    // MSG_NOSIGNAL: a server that hangs up is an error value here, not a SIGPIPE.
    ssize_t n = send(fd_.get(), p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return Status::Timeout("send to server: timed out");
      }
      return Status::FromErrno(errno, "send to server");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<size_t> Connection::ReadSome(void* data, size_t len) {
  if (!fd_.valid()) return Status::Closed("not connected");
  if (ssl_) {
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl_.get(), data, len, &got);
    if (rc == 1) return got;
    return SslFailure(ssl_.get(), rc, "receive from server", "no answer from server: timed out");
  }
  for (;;) {
    ssize_t n = recv(fd_.get(), data, len, 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) return Status::Closed("server closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Status::Timeout("no answer from server: timed out");
    }
    return Status::FromErrno(errno, "receive from server");
  }
}

std::string Connection::ReadPending(size_t len) {
  std::string out(len, '\0');
  if (ssl_) {
    // Only what is decrypted already: reading more could wait for the next record.
    size_t got = 0;
    const auto pending = static_cast<size_t>(SSL_pending(ssl_.get()));
    ERR_clear_error();
    if (pending == 0 || SSL_read_ex(ssl_.get(), out.data(), std::min(len, pending), &got) != 1) {
      got = 0;
      ERR_clear_error();
    }
    out.resize(got);
    return out;
  }
  ssize_t n = !fd_.valid() ? -1 : recv(fd_.get(), out.data(), len, MSG_DONTWAIT);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

Status Connection::ReadExact(void* data, size_t len) {
  auto* p = static_cast<uint8_t*>(data);
  size_t got = 0;
  while (got < len) {
    Result<size_t> n = ReadSome(p + got, len - got);
    if (!n.ok() && n.status().code() == Status::Code::kClosed && fd_.valid()) {
      return Status::Closed("server closed the connection after " + std::to_string(got) + " of " +
                            std::to_string(len) + " bytes");
    }
    if (!n.ok()) return n.status();
    got += *n;
  }
  return Status::Ok();
}

Status Connection::ReadAnswerHeader(uint8_t* raw, size_t len, uint8_t version, bool first,
                                    const std::string& context) {
  size_t got = 0;
  while (got < len) {
    Result<size_t> n = ReadSome(raw + got, len - got);
    if (!n.ok() && n.status().code() == Status::Code::kClosed) {
      if (got == 0 && first) {
        return Status::Closed(peer_ +
                              " closed the connection without answering (is it a backupd server?)");
      }
      return Status::Closed("server closed the connection after " + std::to_string(got) + " of " +
                            std::to_string(len) + " bytes");
    }
    if (!n.ok()) return n.status();
    got += *n;
    // An HTTP server waits for the rest of what it takes for a request line; whatever else it has
    // sent already shows it is not backupd, so waiting for a full header would only burn the
    // timeout.
    if (raw[0] != version) {
      if (!first) {
        return Status::Invalid(context + "protocol version " + std::to_string(raw[0]) +
                               ", expected " + std::to_string(version));
      }
      std::string seen(reinterpret_cast<const char*>(raw), got);
      if (got < kSniffLen) seen += ReadPending(kSniffLen - got);
      return Status::Invalid(NotBackupd(peer_, seen, version));
    }
  }
  return Status::Ok();
}

}  // namespace backupd::client
