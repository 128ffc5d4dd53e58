// supervisor (root): socket, bind and listen for each configured address.
#include "daemon/listeners.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "base/text.h"
#include "daemon/log.h"

namespace backupd::daemon {

namespace {

Result<Listener> Bind(const conf::ListenAddress& a, int backlog) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (a.host == "localhost" ? 0 : AI_NUMERICHOST);
  addrinfo* res = nullptr;
  std::string port = std::to_string(a.port);
  int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Status::Invalid("listen " + a.ToString() + ": " + ::gai_strerror(rc));
  Listener l;
  l.configured = a;
  l.fd.reset(::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!l.fd.valid()) {
    Status s = Status::FromErrno(errno, "socket for " + a.ToString());
    ::freeaddrinfo(res);
    return s;
  }
  const int fd = l.fd.get();
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (res->ai_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Without it a response header, its payload and its digest trailer, written apart, wait for the
  // client's delayed ACK (~40 ms a request). Accepted sockets inherit it from the listener, so the
  // worker's seccomp filter need not allow setsockopt.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool bound = ::bind(fd, res->ai_addr, res->ai_addrlen) == 0 && ::listen(fd, backlog) == 0;
  int err = errno;
  ::freeaddrinfo(res);
  if (!bound) return Status::FromErrno(err, "cannot listen on " + a.ToString());
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
    l.bound = FormatHostPort(host, ntohs(sin6->sin6_port));
  } else {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
    l.bound = FormatHostPort(host, ntohs(sin->sin_port));
  }
  return l;
}

}  // namespace

Result<std::vector<Listener>> BindAll(const std::vector<conf::ListenAddress>& addresses,
                                      int backlog) {
  std::vector<Listener> out;
  for (const conf::ListenAddress& a : addresses) {
    Result<Listener> l = Bind(a, backlog);
    if (!l.ok()) return l.status();
    out.push_back(std::move(*l));
  }
  return out;
}

Status SetBacklog(const std::vector<Listener>& listeners, int backlog) {
  for (const Listener& l : listeners) {
    if (::listen(l.fd.get(), backlog) != 0) {
      return Status::FromErrno(errno, "cannot change the backlog of " + l.bound);
    }
  }
  return Status::Ok();
}

void LogListening(const std::vector<Listener>& plain, const std::vector<Listener>& tls) {
  for (const Listener& l : plain) BACKUPD_LOG(kInfo) << "listening on " << l.bound;
  for (const Listener& l : tls) BACKUPD_LOG(kInfo) << "listening on " << l.bound << " (TLS)";
}

void SetDeferAccept(const std::vector<Listener>& listeners, const conf::Config& config) {
  int value = static_cast<int>(std::min(config.idle_timeout, config.header_timeout));
  for (const Listener& l : listeners) {
    ::setsockopt(l.fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &value, sizeof value);
  }
}

}  // namespace backupd::daemon
