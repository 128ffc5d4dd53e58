// worker (unprivileged): the bare socket's byte stream.
#include "worker/transport.h"

#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <cerrno>

namespace backupd::worker {

namespace {

// A would-block or interrupted call is "wait for `events`, then try again" (EINTR included: the
// caller re-checks its deadline and its stop flag on the way round).
Result<Io> Outcome(ssize_t n, short events, const char* what) {
  if (n > 0) return Io{static_cast<size_t>(n), 0};
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Io{0, events};
  if (n == 0) return Status::Closed("client closed the connection");
  return Status::FromErrno(errno, what);
}

}  // namespace

Result<Io> PlainTransport::Peek() {
  char c;
  return Outcome(::recv(fd_.get(), &c, 1, MSG_PEEK), POLLIN, "recv");
}

Result<Io> PlainTransport::Read(void* buf, size_t max) {
  return Outcome(::recv(fd_.get(), buf, max, 0), POLLIN, "recv");
}

Result<Io> PlainTransport::Write(const void* buf, size_t n) {
  return Outcome(::send(fd_.get(), buf, n, MSG_NOSIGNAL), POLLOUT, "send");
}

Result<Io> PlainTransport::SendFile(int file_fd, off_t* offset, size_t max) {
  ssize_t w = ::sendfile(fd_.get(), file_fd, offset, max);
  if (w == 0) return Status::IoError("file shrank while it was sent");
  return Outcome(w, POLLOUT, "sendfile");
}

void PlainTransport::EndWriting() {
  // Failing, it changes nothing: the close that follows ends the connection all the same.
  ::shutdown(fd_.get(), SHUT_WR);
}

}  // namespace backupd::worker
