// worker (unprivileged): how a connection's bytes move — over the bare socket or inside TLS.
#ifndef BACKUPD_WORKER_TRANSPORT_H_
#define BACKUPD_WORKER_TRANSPORT_H_

#include <sys/types.h>

#include <cstddef>

#include "base/status.h"
#include "base/unique_fd.h"

namespace backupd::worker {

// What one non-blocking attempt achieved: `n` bytes (or, for Handshake, 1: done), or nothing yet
// and the poll(2) events to wait for before trying again. TLS may need to write in order to read
// and the other way round, so the events are the transport's to say.
struct Io {
  size_t n = 0;
  short wait = 0;
};

// One client socket's byte stream. Every call is one non-blocking attempt; Connection adds the
// waiting and the deadlines. Errors: Closed at the client's orderly end, else the reason.
class Transport {
 public:
  virtual ~Transport() = default;
  // The socket, to poll.
  virtual int fd() const = 0;
  // Whatever must happen before the first byte of a request can be read.
  virtual Result<Io> Handshake() = 0;
  // Whether a request's first byte is there, without taking it.
  virtual Result<Io> Peek() = 0;
  virtual Result<Io> Read(void* buf, size_t max) = 0;
  virtual Result<Io> Write(const void* buf, size_t n) = 0;
  // Sends up to `max` bytes of file_fd from *offset, advancing *offset by what was sent.
  virtual Result<Io> SendFile(int file_fd, off_t* offset, size_t max) = 0;
  // Closes this process's copy of the socket without a word to the client (no TLS close_notify):
  // another process — the session child forked for the connection — speaks on it now.
  virtual void HandOff() = 0;
  // Tells the client that no more bytes come, while this process can still read what it sends:
  // a bare socket's FIN (shutdown(SHUT_WR)). TLS leaves it to the close_notify its destructor
  // sends.
  virtual void EndWriting() = 0;
};

// The bare socket: recv, send, sendfile(2); no handshake.
class PlainTransport : public Transport {
 public:
  explicit PlainTransport(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const override { return fd_.get(); }
  Result<Io> Handshake() override { return Io{1, 0}; }
  Result<Io> Peek() override;
  Result<Io> Read(void* buf, size_t max) override;
  Result<Io> Write(const void* buf, size_t n) override;
  Result<Io> SendFile(int file_fd, off_t* offset, size_t max) override;
  void HandOff() override { fd_.reset(); }
  void EndWriting() override;

 private:
  UniqueFd fd_;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_TRANSPORT_H_
