// worker (unprivileged): deadline-bounded socket I/O for one client.
#include "worker/connection.h"

#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "base/timespec.h"

namespace backupd::worker {

namespace {

constexpr std::chrono::seconds kDrainLook{1};

// Bytes the kernel still holds for the client: sent and not yet acknowledged, or not yet sent.
size_t Unacknowledged(int fd) {
  int n = 0;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0 ? static_cast<size_t>(n) : 0;
}

}  // namespace

Connection::Connection(std::unique_ptr<Transport> transport, std::string peer)
    : transport_(std::move(transport)), peer_(std::move(peer)) {}

Connection::Connection(UniqueFd fd, std::string peer)
    : Connection(std::make_unique<PlainTransport>(std::move(fd)), std::move(peer)) {}

void Connection::BeginPace(const MinRate& rate) {
  paced_ = true;
  rate_ = rate;
  pace_start_ = Clock::now();
  pace_bytes_ = bytes_in_ + bytes_out_;
}

Status Connection::Wait(short events, Deadline deadline, const void* mask) {
  const uint64_t moved = bytes_in_ + bytes_out_ - pace_bytes_;
  // Sending, the socket turns writable only once much of its buffer has drained, which can take a
  // client that reads slowly but steadily longer than the grace: what it still has to take
  // shrinking counts as moving too, looked at once a second.
  const bool watch_drain = paced_ && (events & POLLOUT) != 0;
  size_t unacked = watch_drain ? Unacknowledged(transport_->fd()) : 0;
  Deadline quiet_since = Clock::now();
  for (;;) {
    const Deadline paced =
        paced_ ? PacedWait(pace_start_, rate_, moved, quiet_since, deadline) : deadline;
    const Deadline now = Clock::now();
    if (now >= paced) {
      if (paced == deadline) return Status::Timeout("client timed out");
      auto seconds = [](Clock::duration d) {
        return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count());
      };
      return Status::Timeout("below min_rate: " + std::to_string(moved) + " bytes in " +
                             seconds(now - pace_start_) + " s, none in the last " +
                             seconds(now - quiet_since) + " s (min_rate " +
                             std::to_string(rate_.bytes_per_second) + " bytes/s after " +
                             std::to_string(rate_.grace.count()) + " s)");
    }
    const Deadline wake = watch_drain ? std::min(paced, now + kDrainLook) : paced;
    timespec ts = ToTimespec(wake - now);
    pollfd p{transport_->fd(), events, 0};
    int n = ::ppoll(&p, 1, &ts, static_cast<const sigset_t*>(mask));
    if (n > 0) return Status::Ok();
    if (n == 0) {
      if (watch_drain) {
        const size_t left = Unacknowledged(transport_->fd());
        if (left < unacked) quiet_since = Clock::now();
        unacked = left;
      }
      continue;
    }
    if (errno == EINTR) {
      if (mask != nullptr) return Status::Closed("worker stopping");
      continue;
    }
    return Status::FromErrno(errno, "poll");
  }
}

Status Connection::Handshake(Deadline deadline, const void* wait_mask) {
  for (;;) {
    Result<Io> r = transport_->Handshake();
    if (!r.ok()) return r.status();
    if (r->n > 0) return Status::Ok();
    Status s = Wait(r->wait, deadline, wait_mask);
    if (!s.ok()) return s;
  }
}

Status Connection::WaitForRequest(Deadline deadline, const void* wait_mask) {
  if (HasUnread()) return Status::Ok();
  for (;;) {
    Result<Io> r = transport_->Peek();
    if (!r.ok()) return r.status();
    if (r->n > 0) return Status::Ok();
    Status s = Wait(r->wait, deadline, wait_mask);
    if (!s.ok()) return s;
  }
}

Result<size_t> Connection::ReadSome(void* buf, size_t max, Deadline deadline) {
  if (HasUnread()) {
    const size_t n = std::min(max, unread_.size() - unread_pos_);
    std::memcpy(buf, unread_.data() + unread_pos_, n);
    unread_pos_ += n;
    if (!HasUnread()) {
      unread_.clear();
      unread_pos_ = 0;
    }
    bytes_in_ += n;
    return n;
  }
  const bool ahead = max < kReadAhead;
  if (ahead && !ahead_) ahead_ = std::make_unique<char[]>(kReadAhead);
  for (;;) {
    Result<Io> r = ahead ? transport_->Read(ahead_.get(), kReadAhead) : transport_->Read(buf, max);
    if (!r.ok()) return r.status();
    if (r->n > 0) {
      const size_t n = std::min(max, r->n);
      if (ahead) {
        std::memcpy(buf, ahead_.get(), n);
        unread_.assign(ahead_.get() + n, r->n - n);
      }
      bytes_in_ += n;
      return n;
    }
    if (answer_) {
      std::function<void()> answer = std::move(answer_);
      answer_ = nullptr;
      answer();
      continue;
    }
    Status s = Wait(r->wait, deadline, nullptr);
    if (!s.ok()) return s;
  }
}

bool Connection::HasInput() {
  if (HasUnread()) return true;
  Result<Io> r = transport_->Peek();
  return r.ok() && r->n > 0;
}

void Connection::Unread(const void* buf, size_t n) {
  unread_.erase(0, unread_pos_);
  unread_pos_ = 0;
  unread_.insert(0, static_cast<const char*>(buf), n);
  // Counted again when read again: a request's bytes_in is what its parser took.
  bytes_in_ -= n;
}

Status Connection::WriteAll(const void* buf, size_t n, Deadline deadline) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    Result<Io> r = transport_->Write(p, n);
    if (!r.ok()) return r.status();
    if (r->n > 0) {
      bytes_out_ += r->n;
      p += r->n;
      n -= r->n;
      continue;
    }
    Status s = Wait(r->wait, deadline, nullptr);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Connection::SendFile(int file_fd, uint64_t size, Deadline deadline) {
  off_t offset = 0;
  while (static_cast<uint64_t>(offset) < size) {
    size_t chunk = static_cast<size_t>(
        std::min<uint64_t>(size - static_cast<uint64_t>(offset), uint64_t{1} << 30));
    Result<Io> r = transport_->SendFile(file_fd, &offset, chunk);
    if (!r.ok()) return r.status();
    if (r->n > 0) {
      bytes_out_ += r->n;
      continue;
    }
    Status s = Wait(r->wait, deadline, nullptr);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace backupd::worker
