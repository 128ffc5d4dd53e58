// worker (unprivileged): one client socket, with every read and write bounded by a deadline.
#ifndef BACKUPD_WORKER_CONNECTION_H_
#define BACKUPD_WORKER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"

namespace backupd::worker {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Owns a non-blocking connected socket. Every call waits at most until its deadline (Timeout), so
// a slow or silent client cannot hold a worker longer than the configured timeouts. Waiting
// inside a request keeps the caller's signal mask: a graceful-stop signal waits for the request.
class Connection {
 public:
  Connection(UniqueFd fd, std::string peer);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Waits for the first byte of a request. Returns Closed at EOF, Timeout after the deadline,
  // and Closed too when a signal unblocked by `wait_mask` arrives (the worker is told to stop).
  Status WaitForRequest(Deadline deadline, const void* wait_mask);
  // Reads 1..max bytes.
  Result<size_t> ReadSome(void* buf, size_t max, Deadline deadline);
  Status WriteAll(const void* buf, size_t n, Deadline deadline);
  // Sends `size` bytes of file_fd from offset 0 with sendfile(2).
  Status SendFile(int file_fd, uint64_t size, Deadline deadline);

  const std::string& peer() const { return peer_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 private:
  Status Wait(short events, Deadline deadline, const void* mask);
  UniqueFd fd_;
  std::string peer_;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_CONNECTION_H_
