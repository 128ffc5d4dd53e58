// client (the user's privilege): the TLS handshake and the server certificate's verification.
#include "client/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>

#include "base/openssl_error.h"

namespace backupd::client {
namespace {

// How much one recv may take from the socket into the TLS read buffer.
constexpr size_t kReadBuffer = 256 * 1024;

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

bool IsIpAddress(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

}  // namespace

void SslFree::operator()(SSL* ssl) const { SSL_free(ssl); }

Result<SslPtr> TlsConnect(int fd, const std::string& host, const std::string& peer,
                          const TlsOptions& options) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Status::IoError("TLS: " + TakeOpenSslError("cannot create a context"));
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // The protocol frames every message with its length, so a server hanging up without
  // close_notify shows as a short answer anyway.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  // One recv for many records instead of two for each (header, then body). Nothing here polls
  // the socket for a record OpenSSL may already hold: reads block in SSL_read, and ReadPending
  // asks SSL_pending.
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  SSL_CTX_set_default_read_buffer_len(ctx.get(), kReadBuffer);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1) {
      return Status::Invalid("--ca " + options.ca_file + ": " +
                             TakeOpenSslError("cannot read the certificates"));
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return Status::IoError("TLS: " + TakeOpenSslError("cannot load the system's certificates"));
  }
  // The SSL holds its own reference to the context.
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return Status::IoError("TLS: " + TakeOpenSslError("cannot create a connection"));
  bool named = IsIpAddress(host)
                   ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str()) == 1
                   : SSL_set1_host(ssl.get(), host.c_str()) == 1 &&
                         SSL_set_tlsext_host_name(ssl.get(), host.c_str()) == 1;
  if (!named || SSL_set_fd(ssl.get(), fd) != 1) {
    return Status::IoError("TLS: " + TakeOpenSslError("cannot set up the connection"));
  }
  int rc = SSL_connect(ssl.get());
  if (rc == 1) return ssl;
  const int saved_errno = errno;
  long verdict = SSL_get_verify_result(ssl.get());
  if (verdict != X509_V_OK) {
    ERR_clear_error();
    return Status::Denied(std::string("server certificate not trusted: ") +
                          X509_verify_cert_error_string(verdict));
  }
  const std::string what = "TLS handshake with " + peer;
  switch (SSL_get_error(ssl.get(), rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      ERR_clear_error();
      return Status::Timeout(what + ": timed out");
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return Status::Closed(what + ": the server closed the connection (is it a TLS port?)");
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == 0) {
        return Status::Closed(what + ": the server closed the connection (is it a TLS port?)");
      }
      return Status::FromErrno(saved_errno, what);
    default: {
      // A server that is not speaking TLS answers the hello with something that is no record.
      bool plain = ERR_GET_REASON(ERR_peek_error()) == SSL_R_WRONG_VERSION_NUMBER;
      return Status::IoError(what + " failed: " + TakeOpenSslError("TLS error") +
                             (plain ? " (is it a TLS port?)" : ""));
    }
  }
}

}  // namespace backupd::client
