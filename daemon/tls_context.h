// supervisor (root): the TLS server context, built from tls_cert and tls_key before any worker is
// forked; workers inherit it through fork and never open the key file.
#ifndef BACKUPD_DAEMON_TLS_CONTEXT_H_
#define BACKUPD_DAEMON_TLS_CONTEXT_H_

#include <openssl/types.h>

#include <memory>

#include "base/status.h"
#include "conf/config.h"

namespace backupd::daemon {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const;
};
using TlsContext = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Reads the certificate chain and the key and checks that they belong together. Empty when no
// tls_listen is configured. Invalid("tls_cert FILE: reason") (or tls_key) when a file cannot be
// read or parsed, or the key does not match the certificate.
//
// The policy: TLS 1.2 at least (1.3 is negotiated whenever the client offers it), the server's
// cipher order, no compression (CRIME), no renegotiation (nothing in the protocol needs it, and it
// is a path back into the handshake mid-stream). No session tickets or session cache: each worker
// is a process of its own, so a cache would rarely hit, and a ticket key shared by every worker
// of every generation would be one more secret for a compromised worker to carry away;
// connections are long enough that a full handshake costs little.
Result<TlsContext> LoadTlsContext(const conf::Config& config);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_TLS_CONTEXT_H_
