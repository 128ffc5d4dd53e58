// supervisor (root): reads the TLS certificate and key and builds the context workers inherit.
#include "daemon/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "base/openssl_error.h"

namespace backupd::daemon {

namespace {

// How much one recv may take from the socket into a connection's TLS read buffer.
constexpr size_t kReadBuffer = 256 * 1024;

bool IsMismatch(unsigned long err) {
  return ERR_GET_LIB(err) == ERR_LIB_X509 && (ERR_GET_REASON(err) == X509_R_KEY_VALUES_MISMATCH ||
                                              ERR_GET_REASON(err) == X509_R_KEY_TYPE_MISMATCH);
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

Result<TlsContext> LoadTlsContext(const conf::Config& config) {
  if (config.tls_listen.empty()) return TlsContext();
  ERR_clear_error();
  TlsContext ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::IoError("TLS: " + TakeOpenSslError("cannot create a context"));
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // A client that hangs up without close_notify is an ordinary end between requests: every
  // message carries its own length, so a truncated one is caught by the framing, not by TLS.
  SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
                             SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                             SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // Writes of a non-blocking socket are retried with the rest of the buffer, which may move.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Without read-ahead every 16 KiB record costs two recv (its header, then its body); with it one
  // recv takes whatever the socket holds, up to the buffer. The worker waits on the socket only
  // after SSL_read said WANT_READ, so bytes already in OpenSSL's buffer are never waited for.
  SSL_CTX_set_read_ahead(c, 1);
  SSL_CTX_set_default_read_buffer_len(c, kReadBuffer);
  if (SSL_CTX_use_certificate_chain_file(c, config.tls_cert.c_str()) != 1) {
    return Status::Invalid("tls_cert " + config.tls_cert + ": " +
                           TakeOpenSslError("cannot read the certificate"));
  }
  // Loading a key checks it against the certificate already loaded; either check may refuse.
  if (SSL_CTX_use_PrivateKey_file(c, config.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 &&
      !IsMismatch(ERR_peek_error())) {
    return Status::Invalid("tls_key " + config.tls_key + ": " +
                           TakeOpenSslError("cannot read the key"));
  }
  if (IsMismatch(ERR_peek_error()) || SSL_CTX_check_private_key(c) != 1) {
    return Status::Invalid("tls_key " + config.tls_key + " does not belong to tls_cert " +
                           config.tls_cert + ": " + TakeOpenSslError("key values mismatch"));
  }
  return ctx;
}

}  // namespace backupd::daemon
