// worker (unprivileged): a connection's byte stream inside TLS, on the context the supervisor
// built before the fork. All record parsing happens here, after the privilege drop.
#ifndef BACKUPD_WORKER_TLS_TRANSPORT_H_
#define BACKUPD_WORKER_TLS_TRANSPORT_H_

#include <openssl/types.h>

#include <memory>
#include <vector>

#include "worker/transport.h"

namespace backupd::worker {

// The server side of one TLS connection. Handshake() must be done before the stream is used;
// the destructor sends close_notify (best effort, never waiting) once it was.
class TlsTransport : public Transport {
 public:
  static Result<std::unique_ptr<TlsTransport>> Create(UniqueFd fd, SSL_CTX* ctx);
  ~TlsTransport() override;

  int fd() const override { return fd_.get(); }
  void HandOff() override {
    established_ = false;
    fd_.reset();
  }
  void EndWriting() override {}
  Result<Io> Handshake() override;
  Result<Io> Peek() override;
  Result<Io> Read(void* buf, size_t max) override;
  Result<Io> Write(const void* buf, size_t n) override;
  // read(2) into a buffer and SSL_write: sendfile cannot encrypt. Bytes read but not yet
  // accepted by SSL_write wait in the buffer, since a retried SSL_write must be given them again.
  Result<Io> SendFile(int file_fd, off_t* offset, size_t max) override;

 private:
  TlsTransport(UniqueFd fd, SSL* ssl) : fd_(std::move(fd)), ssl_(ssl) {}
  // Turns a failed SSL call's result into "wait for these events" or the error: OpenSSL's reason,
  // or the errno of the socket call `what`.
  Result<Io> Failed(int rc, const char* what);

  UniqueFd fd_;
  SSL* ssl_;
  bool established_ = false;
  std::vector<char> file_buf_;  // for SendFile: bytes at *offset.. not yet sent
  size_t file_len_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_TLS_TRANSPORT_H_
