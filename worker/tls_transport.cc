// worker (unprivileged): one TLS connection's byte stream over OpenSSL.
#include "worker/tls_transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/openssl_error.h"

namespace backupd::worker {

namespace {

// A pread's worth of a file sent over TLS: sixteen records, sent with one send(2).
constexpr size_t kFileChunk = 256 * 1024;

}  // namespace

Result<std::unique_ptr<TlsTransport>> TlsTransport::Create(UniqueFd fd, SSL_CTX* ctx) {
  ERR_clear_error();
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return Status::IoError("TLS: " + TakeOpenSslError("SSL_new failed"));
  if (SSL_set_fd(ssl, fd.get()) != 1) {
    SSL_free(ssl);
    return Status::IoError("TLS: " + TakeOpenSslError("SSL_set_fd failed"));
  }
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsTransport>(new TlsTransport(std::move(fd), ssl));
}

TlsTransport::~TlsTransport() {
  if (established_ && !notified_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
  SSL_free(ssl_);
  BIO_free(sealed_);
  ERR_clear_error();
}

void TlsTransport::EndWriting() {
  if (!established_ || notified_) return;
  ERR_clear_error();
  // 0: close_notify is on the socket (the client's is not awaited). Anything else (a full socket
  // buffer) leaves it to the destructor, and no FIN may cut it off.
  if (SSL_shutdown(ssl_) < 0) {
    ERR_clear_error();
    return;
  }
  notified_ = true;
  ::shutdown(fd_.get(), SHUT_WR);
}

Result<Io> TlsTransport::Failed(int rc, const char* what) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return Io{0, POLLIN};
    case SSL_ERROR_WANT_WRITE:
      return Io{0, POLLOUT};
    case SSL_ERROR_ZERO_RETURN:
      return Status::Closed("client closed the connection");
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (saved_errno == EINTR) return Io{0, POLLIN};
      if (saved_errno == 0) return Status::Closed("client closed the connection");
      return Status::FromErrno(saved_errno, what);
    default:
      return Status::IoError(TakeOpenSslError("TLS error"));
  }
}

Result<Io> TlsTransport::Handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return Io{1, 0};
  }
  return Failed(rc, "socket");
}

Result<Io> TlsTransport::Peek() {
  char c;
  size_t got = 0;
  ERR_clear_error();
  int rc = SSL_peek_ex(ssl_, &c, 1, &got);
  if (rc == 1) return Io{got, 0};
  return Failed(rc, "recv");
}

Result<Io> TlsTransport::Read(void* buf, size_t max) {
  // SSL_read gives one record (16 KiB) a call: the records read ahead are taken too, so an upload
  // is written to its file in the caller's chunks rather than a write per record.
  auto* p = static_cast<char*>(buf);
  size_t total = 0;
  do {
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl_, p + total, max - total, &got);
    if (rc != 1) {
      // What came before a failure is handed over; the failure shows again at the next call.
      if (total > 0) break;
      return Failed(rc, "recv");
    }
    total += got;
  } while (total < max && SSL_has_pending(ssl_) == 1);
  ERR_clear_error();
  return Io{total, 0};
}

Result<Io> TlsTransport::Write(const void* buf, size_t n) {
  size_t sent = 0;
  ERR_clear_error();
  int rc = SSL_write_ex(ssl_, buf, n, &sent);
  if (rc == 1) return Io{sent, 0};
  return Failed(rc, "send");
}

Status TlsTransport::Seal(const char* p, size_t n) {
  ERR_clear_error();
  if (sealed_ == nullptr) sealed_ = BIO_new(BIO_s_mem());
  if (sealed_ == nullptr) return Status::IoError(TakeOpenSslError("cannot make a memory BIO"));
  // SSL_set0_wbio takes over a reference and drops one of the BIO it replaces: each swap is
  // paid for beforehand, so the socket's BIO and sealed_ both outlive it.
  BIO* socket_bio = SSL_get_wbio(ssl_);
  BIO_up_ref(socket_bio);
  BIO_up_ref(sealed_);
  SSL_set0_wbio(ssl_, sealed_);
  Status st = Status::Ok();
  while (n > 0) {
    size_t written = 0;
    if (SSL_write_ex(ssl_, p, n, &written) != 1) {
      st = Status::IoError(TakeOpenSslError("TLS error"));
      break;
    }
    p += written;
    n -= written;
  }
  SSL_set0_wbio(ssl_, socket_bio);
  return st;
}

Result<Io> TlsTransport::SendFile(int file_fd, off_t* offset, size_t max) {
  if (chunk_len_ == 0) {
    file_buf_.resize(kFileChunk);
    ssize_t r = ::pread(file_fd, file_buf_.data(), std::min(max, kFileChunk), *offset);
    if (r < 0 && errno == EINTR) return Io{0, POLLOUT};
    if (r < 0) return Status::FromErrno(errno, "read");
    if (r == 0) return Status::IoError("file shrank while it was sent");
    Status sealed = Seal(file_buf_.data(), static_cast<size_t>(r));
    if (!sealed.ok()) return sealed;
    chunk_len_ = static_cast<size_t>(r);
    sealed_sent_ = 0;
  }
  char* records = nullptr;
  const auto len = static_cast<size_t>(BIO_get_mem_data(sealed_, &records));
  while (sealed_sent_ < len) {
    ssize_t n = ::send(fd_.get(), records + sealed_sent_, len - sealed_sent_, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Io{0, POLLOUT};
    if (n < 0) return Status::FromErrno(errno, "send");
    sealed_sent_ += static_cast<size_t>(n);
  }
  // The chunk counts as sent once all its records are on the socket: SendFile's caller writes
  // nothing else until then, so no other record can come between them.
  (void)BIO_reset(sealed_);
  *offset += static_cast<off_t>(chunk_len_);
  const size_t sent = chunk_len_;
  chunk_len_ = 0;
  return Io{sent, 0};
}

}  // namespace backupd::worker
