// supervisor (root): binding the configured listen addresses; workers inherit the sockets.
#ifndef BACKUPD_DAEMON_LISTENERS_H_
#define BACKUPD_DAEMON_LISTENERS_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "conf/config.h"

namespace backupd::daemon {

// A bound, listening, non-blocking, close-on-exec socket.
struct Listener {
  conf::ListenAddress configured;  // as written in the config (port may be 0)
  std::string bound;               // "ADDR:PORT" with the real port
  int fd = -1;
};

// Binds and listens on every address (SO_REUSEADDR; IPV6_V6ONLY for IPv6). On failure closes
// what it opened and returns the error naming the address.
Result<std::vector<Listener>> BindAll(const std::vector<conf::ListenAddress>& addresses,
                                      int backlog);

// TCP_DEFER_ACCEPT: the kernel hands a connection to accept() only once its first bytes arrive
// (or `seconds` pass), so clients that connect and say nothing cannot pin workers — the
// Apache AcceptFilter defence. The protocol is client-speaks-first, so nobody waits on it.
void SetDeferAccept(const std::vector<Listener>& listeners, uint32_t seconds);

// Closes every listener's socket.
void CloseAll(std::vector<Listener>* listeners);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_LISTENERS_H_
