// worker (unprivileged): one client socket, with every read and write bounded by a deadline.
#ifndef BACKUPD_WORKER_CONNECTION_H_
#define BACKUPD_WORKER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"
#include "worker/pace.h"
#include "worker/transport.h"

namespace backupd::worker {

// Owns a non-blocking connected socket, bare or inside TLS (its Transport). Every call waits at
// most until its deadline (Timeout), so a slow or silent client cannot hold a worker longer than
// the configured timeouts. Waiting inside a request keeps the caller's signal mask: a
// graceful-stop signal waits for the request.
class Connection {
 public:
  Connection(std::unique_ptr<Transport> transport, std::string peer);
  // A bare socket.
  Connection(UniqueFd fd, std::string peer);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Does the transport's handshake (TLS) before anything else is read; a signal unblocked by
  // `wait_mask` ends it as WaitForRequest does.
  Status Handshake(Deadline deadline, const void* wait_mask);
  // Waits for the first byte of a request. Returns Closed at EOF, Timeout after the deadline,
  // and Closed too when a signal unblocked by `wait_mask` arrives (the worker is told to stop).
  Status WaitForRequest(Deadline deadline, const void* wait_mask);
  // Reads 1..max bytes. A small read (under kReadAhead) takes up to kReadAhead from the socket
  // and keeps the rest for the next reads: a pipelined small upload's header, name, attributes,
  // payload and digest come in one recv instead of five.
  Result<size_t> ReadSome(void* buf, size_t max, Deadline deadline);
  static constexpr size_t kReadAhead = 64 * 1024;
  Status WriteAll(const void* buf, size_t n, Deadline deadline);
  // Sends `size` bytes of file_fd from offset 0 (sendfile(2) on a bare socket).
  Status SendFile(int file_fd, uint64_t size, Deadline deadline);
  // Whether bytes of the stream can be read without waiting.
  bool HasInput();
  // `answer` is called, once, before the next read that would have to wait: what is owed to the
  // client goes out before the server waits on it. Cleared by calling it or by Answered().
  void AnswerBeforeWaiting(std::function<void()> answer) { answer_ = std::move(answer); }
  void Answered() { answer_ = nullptr; }
  // Puts bytes just read back in front of the stream: the next reads return them first. The
  // version sniffer reads a connection's first bytes this way without taking them from the parser.
  void Unread(const void* buf, size_t n);

  // From now on every wait also ends at PacedWait's deadline for the bytes moved (in and out)
  // since this call, the send queue draining counting as moving: a payload too slow for `rate`
  // fails with a Timeout saying so. Until EndPace.
  void BeginPace(const MinRate& rate);
  void EndPace() { paced_ = false; }

  // Leaves the connection to the process forked to serve it: see Transport::HandOff. Nothing may
  // be called on this Connection afterwards.
  void HandOff() { transport_->HandOff(); }
  // See Transport::EndWriting.
  void EndWriting() { transport_->EndWriting(); }
  // The socket, for a forked child to keep open when it closes everything else.
  int fd() const { return transport_->fd(); }
  const std::string& peer() const { return peer_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  Status Wait(short events, Deadline deadline, const void* mask);
  std::unique_ptr<Transport> transport_;
  std::string peer_;
  bool HasUnread() const { return unread_pos_ < unread_.size(); }
  // Bytes given back by Unread or read ahead, from unread_pos_ on, served before the socket's.
  // Not counted in bytes_in_ until served.
  std::string unread_;
  size_t unread_pos_ = 0;
  std::unique_ptr<char[]> ahead_;  // kReadAhead bytes, made at the first small read
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  std::function<void()> answer_;
  bool paced_ = false;
  MinRate rate_;
  Deadline pace_start_;
  uint64_t pace_bytes_ = 0;  // bytes_in_ + bytes_out_ when the pace began
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_CONNECTION_H_
