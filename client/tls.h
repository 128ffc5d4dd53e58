// client (the user's privilege): TLS for backup-client — the handshake, and the server's
// certificate checked against --ca (or the system store) and the host named in --server.
#ifndef BACKUPD_CLIENT_TLS_H_
#define BACKUPD_CLIENT_TLS_H_

#include <openssl/types.h>

#include <memory>
#include <string>

#include "base/status.h"

namespace backupd::client {

struct TlsOptions {
  std::string ca_file;  // PEM certificates to trust; empty: the system's store
};

struct SslFree {
  void operator()(SSL* ssl) const;
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// Runs the client's handshake over the connected blocking socket `fd` (its timeouts bound the
// handshake) and verifies the server: a chain to a trusted certificate, and `host` — an IP
// address or a DNS name, as given to --server — in its subjectAltName. Denied("server certificate
// not trusted: REASON") when verification fails; Invalid when --ca cannot be read; Timeout, Closed
// or IoError ("TLS handshake with PEER failed: REASON") for the rest.
Result<SslPtr> TlsConnect(int fd, const std::string& host, const std::string& peer,
                          const TlsOptions& options);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_TLS_H_
