// worker (unprivileged): one connection from its first byte to its close — which protocol it
// speaks, its login, and its requests answered in order.
#ifndef BACKUPD_WORKER_SESSION_H_
#define BACKUPD_WORKER_SESSION_H_

#include <chrono>
#include <functional>
#include <string>

#include "ipc/report.h"
#include "worker/authenticator.h"
#include "worker/connection.h"
#include "worker/request_handler.h"

namespace backupd::worker {

struct SessionContext {
  HandlerContext handler;
  Authenticator* auth = nullptr;  // the v2 login gate
  std::chrono::seconds idle_timeout{30};
  // From the connection's start to its first request's header and name (v2: to the end of its
  // login), and from each later request's first byte to its header and name.
  std::chrono::seconds header_timeout{20};
  std::chrono::seconds request_timeout{300};
  // Passed to the wait for each request: the signals that may end it (the worker is stopping).
  const void* wait_mask = nullptr;
  // Gets every request's access record, and one for a connection refused by its first bytes.
  std::function<void(const ipc::Report&)> report;
  // Told once for a connection that a deadline cut off (header_timeout, min_rate,
  // request_timeout, idle_timeout before its first byte; not idle_timeout between requests): its
  // peer and what the client did.
  std::function<void(const std::string& peer, const std::string& what)> stalled;
  // Asked after each request: true ends the connection (the worker is told to stop).
  std::function<bool()> stopping;
  // Called once, when the connection has its user's folder (v2: after the 221 was sent; v1: when
  // handler.folders first hands one out, before the request that asked for it is parsed), with
  // the folder's descriptor: the worker forks the session child here. True: this process serves
  // the rest of the connection, in that folder only; false: it must not touch it again. Unset:
  // the connection is served in this process.
  std::function<bool(Connection& conn, int folder_fd)> enter_folder;
};

// How long a connection a stop finds still owed its first request (below) gets for it. A client
// sends its next bytes within a round trip (a login's proof takes milliseconds), so this bounds
// only what a silent connection adds to a stop or reload.
constexpr std::chrono::seconds kStopGrace{5};

// Serves `conn` until the client closes it, it idles out, a response closes it, or stopping().
// A stop (wait_mask's signal, then stopping()) ends the connection between requests, but not
// before its first request is served (v2: the login and the request after it): a client whose
// connection was accepted finds it served, whatever a reload or stop did meanwhile. The wait
// for such a request is cut to kStopGrace after the stop.
// Its first kSniffSize bytes (v2::Sniff) fix its version: v1 is served exactly as before v2
// existed, v2 through its login, and anything else (TLS, HTTP, an unknown version) gets
// v2::Refusal and the close.
void ServeConnection(Connection& conn, const SessionContext& ctx);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_SESSION_H_
