// worker (forked by the supervisor as root; unprivileged once confined): a worker's whole life.
#ifndef BACKUPD_WORKER_WORKER_MAIN_H_
#define BACKUPD_WORKER_WORKER_MAIN_H_

#include <openssl/types.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "conf/config.h"
#include "ipc/peer_table.h"
#include "worker/privdrop.h"

namespace backupd::worker {

// Everything a worker gets from the supervisor at fork.
struct WorkerArgs {
  const conf::Config* config = nullptr;
  std::vector<int> listen_fds;      // non-blocking listening sockets
  std::vector<int> tls_listen_fds;  // the same, whose connections begin with a TLS handshake
  SSL_CTX* tls = nullptr;           // the supervisor's context (copied by fork); set with TLS fds
  int report_fd = -1;               // write end of this worker's report pipe
  int monitor_fd = -1;              // its end of the login monitor's channel (SOCK_SEQPACKET)
  uint32_t generation = 0;
  pid_t supervisor = 0;
  Identity identity;
  ipc::PeerTable* peers = nullptr;  // shared: whom each worker serves
  size_t slot = 0;                  // this worker's row in `peers`
};

// Runs in the child right after fork: confines itself, then accepts and serves connections until
// told to stop (SIGTERM: finish the current request, then exit), `max_requests` is reached, or the
// supervisor dies. Never returns.
[[noreturn]] void WorkerMain(const WorkerArgs& args);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_WORKER_MAIN_H_
