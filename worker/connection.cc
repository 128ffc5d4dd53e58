// worker (unprivileged): deadline-bounded socket I/O for one client.
#include "worker/connection.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <cerrno>
#include <utility>

#include "base/timespec.h"

namespace backupd::worker {

Connection::Connection(UniqueFd fd, std::string peer)
    : fd_(std::move(fd)), peer_(std::move(peer)) {}

Status Connection::Wait(short events, Deadline deadline, const void* mask) {
  for (;;) {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return Status::Timeout("client timed out");
    timespec ts = ToTimespec(left);
    pollfd p{fd_.get(), events, 0};
    int n = ::ppoll(&p, 1, &ts, static_cast<const sigset_t*>(mask));
    if (n > 0) return Status::Ok();
    if (n == 0) return Status::Timeout("client timed out");
    if (errno == EINTR) {
      if (mask != nullptr) return Status::Closed("worker stopping");
      continue;
    }
    return Status::FromErrno(errno, "poll");
  }
}

Status Connection::WaitForRequest(Deadline deadline, const void* wait_mask) {
  Status s = Wait(POLLIN, deadline, wait_mask);
  if (!s.ok()) return s;
  char c;
  ssize_t n = ::recv(fd_.get(), &c, 1, MSG_PEEK);
  if (n == 0) return Status::Closed("client closed the connection");
  if (n < 0 && errno != EAGAIN && errno != EINTR) return Status::FromErrno(errno, "recv");
  return Status::Ok();
}

Result<size_t> Connection::ReadSome(void* buf, size_t max, Deadline deadline) {
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf, max, 0);
    if (n > 0) {
      bytes_in_ += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
    if (n == 0) return Status::Closed("client closed the connection");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::FromErrno(errno, "recv");
    Status s = Wait(POLLIN, deadline, nullptr);
    if (!s.ok()) return s;
  }
}

Status Connection::WriteAll(const void* buf, size_t n, Deadline deadline) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::send(fd_.get(), p, n, MSG_NOSIGNAL);
    if (w > 0) {
      bytes_out_ += static_cast<uint64_t>(w);
      p += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN) return Status::FromErrno(errno, "send");
    Status s = Wait(POLLOUT, deadline, nullptr);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Connection::SendFile(int file_fd, uint64_t size, Deadline deadline) {
  off_t offset = 0;
  while (static_cast<uint64_t>(offset) < size) {
    size_t chunk = static_cast<size_t>(
        std::min<uint64_t>(size - static_cast<uint64_t>(offset), uint64_t{1} << 30));
    ssize_t w = ::sendfile(fd_.get(), file_fd, &offset, chunk);
    if (w > 0) {
      bytes_out_ += static_cast<uint64_t>(w);
      continue;
    }
    if (w == 0) return Status::IoError("file shrank while it was sent");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return Status::FromErrno(errno, "sendfile");
    Status s = Wait(POLLOUT, deadline, nullptr);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace backupd::worker
