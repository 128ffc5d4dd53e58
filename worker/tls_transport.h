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
// the destructor sends close_notify (best effort, never waiting) once it was, unless EndWriting
// did.
class TlsTransport : public Transport {
 public:
  static Result<std::unique_ptr<TlsTransport>> Create(UniqueFd fd, SSL_CTX* ctx);
  ~TlsTransport() override;

  int fd() const override { return fd_.get(); }
  void HandOff() override {
    established_ = false;
    fd_.reset();
  }
  // close_notify, then the socket's FIN once it is all out, so the client sees the end at once.
  void EndWriting() override;
  Result<Io> Handshake() override;
  Result<Io> Peek() override;
  Result<Io> Read(void* buf, size_t max) override;
  Result<Io> Write(const void* buf, size_t n) override;
  // sendfile cannot encrypt: a chunk is pread(2), sealed into TLS records in memory and sent
  // with send(2), one call for sixteen records rather than one a record. *offset moves past a
  // chunk once all of its records are on the socket.
  Result<Io> SendFile(int file_fd, off_t* offset, size_t max) override;

 private:
  TlsTransport(UniqueFd fd, SSL* ssl) : fd_(std::move(fd)), ssl_(ssl) {}
  // Turns a failed SSL call's result into "wait for these events" or the error: OpenSSL's reason,
  // or the errno of the socket call `what`.
  Result<Io> Failed(int rc, const char* what);
  // Encrypts n bytes at p into sealed_ as application data records, in sequence with the rest.
  Status Seal(const char* p, size_t n);

  UniqueFd fd_;
  SSL* ssl_;
  bool established_ = false;
  bool notified_ = false;  // close_notify went (EndWriting)
  // SendFile's chunk: the file's bytes at *offset.., and their records, of which sealed_sent_
  // bytes are on the socket; chunk_len_ is 0 when no chunk waits.
  std::vector<char> file_buf_;
  BIO* sealed_ = nullptr;
  size_t sealed_sent_ = 0;
  size_t chunk_len_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_TLS_TRANSPORT_H_
