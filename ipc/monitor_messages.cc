// worker (unprivileged) and supervisor (root): monitor messages sent and received whole, with
// descriptors by SCM_RIGHTS.
#include "ipc/monitor_messages.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace backupd::ipc {

bool SetText(char (&text)[kMonitorMaxText], uint16_t* length, std::string_view s) {
  if (s.size() > kMonitorMaxText) return false;
  std::memcpy(text, s.data(), s.size());
  *length = static_cast<uint16_t>(s.size());
  return true;
}

std::string_view GetText(const char (&text)[kMonitorMaxText], uint16_t length) {
  if (length > kMonitorMaxText) return {};
  return std::string_view(text, length);
}

Status SendMonitorMessage(int fd, const void* message, size_t size, int pass_fd) {
  iovec iov{const_cast<void*>(message), size};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
  }
  for (;;) {
    ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(size)) return Status::Ok();
    if (n >= 0) return Status::IoError("short send on the monitor channel");
    if (errno == EINTR) continue;
    return Status::FromErrno(errno, "monitor channel");
  }
}

Result<ReceivedMessage> ReceiveMonitorMessage(int fd, void* buffer, size_t capacity) {
  iovec iov{buffer, capacity};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // Room for more descriptors than a message may carry, so that a sender attaching several has
  // them all closed here rather than some silently dropped by the kernel (MSG_CTRUNC).
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Status::FromErrno(errno, "monitor channel");
  ReceivedMessage got;
  got.size = static_cast<size_t>(n);
  bool stray = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
      stray = true;
      continue;
    }
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int passed = -1;
      std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      UniqueFd owned(passed);
      if (got.fd.valid()) {
        stray = true;
      } else {
        got.fd = std::move(owned);
      }
    }
  }
  if (stray || (msg.msg_flags & MSG_CTRUNC) != 0) {
    return Status::Invalid("unexpected control data on the monitor channel");
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0) return Status::Invalid("oversized monitor message");
  // A SOCK_SEQPACKET peer that closed reads as an empty message; no sender here sends one.
  if (n == 0) return Status::Closed("monitor channel closed");
  return got;
}

}  // namespace backupd::ipc
