// supervisor (root): binding the configured listen addresses; workers inherit the sockets.
#ifndef BACKUPD_DAEMON_LISTENERS_H_
#define BACKUPD_DAEMON_LISTENERS_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "conf/config.h"

namespace backupd::daemon {

// A bound, listening, non-blocking, close-on-exec socket; move-only, closed with its Listener.
struct Listener {
  conf::ListenAddress configured;  // as written in the config (port may be 0)
  std::string bound;               // "ADDR:PORT" with the real port
  UniqueFd fd;
};

// Binds and listens on every address (SO_REUSEADDR; IPV6_V6ONLY for IPv6; TCP_NODELAY, which
// the accepted connections inherit). On failure the error
// names the address, and what was opened is closed again.
Result<std::vector<Listener>> BindAll(const std::vector<conf::ListenAddress>& addresses,
                                      int backlog);

// Calls listen(2) again on each socket, which changes a listening socket's backlog in place: no
// rebind, so the port stays open and workers' inherited copies (the same socket) see it too.
Status SetBacklog(const std::vector<Listener>& listeners, int backlog);

// Logs "listening on ADDR:PORT" for each plain socket, then "listening on ADDR:PORT (TLS)" for
// each TLS one.
void LogListening(const std::vector<Listener>& plain, const std::vector<Listener>& tls);

// TCP_DEFER_ACCEPT: the kernel hands a connection to accept() only once its first bytes arrive
// (or the time a worker would wait for them passes: the lesser of idle_timeout and
// header_timeout), so clients that connect and say nothing cannot pin workers — the Apache
// AcceptFilter defence. The protocol is client-speaks-first (and so is TLS), so nobody waits on it.
void SetDeferAccept(const std::vector<Listener>& listeners, const conf::Config& config);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_LISTENERS_H_
