// worker (unprivileged): how long a client may take over a request, as pure deadline arithmetic —
// header_timeout for its header and name, min_rate for its payload (mod_reqtimeout's shape).
#ifndef BACKUPD_WORKER_PACE_H_
#define BACKUPD_WORKER_PACE_H_

#include <chrono>
#include <cstdint>

namespace backupd::worker {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// The slowest a payload may move, either way: after `grace`, on average at least
// `bytes_per_second` since it began. 0 bytes per second: no minimum.
struct MinRate {
  std::chrono::seconds grace{20};
  uint32_t bytes_per_second = 500;
};

// When the next byte of a transfer that began at `start` and has moved `bytes` must have moved:
//   start + grace + bytes / bytes_per_second,
// never later than `cap` (request_timeout's deadline), and `cap` itself without a minimum. So a
// client earns one more second with every `bytes_per_second` bytes, as Apache's mod_reqtimeout
// grants one per MinRate bytes, and a byte moved early still counts later.
Deadline PaceDeadline(Deadline start, const MinRate& rate, uint64_t bytes, Deadline cap);

// How long one wait for the connection, begun at `now`, may last in that transfer: until
// PaceDeadline, and never longer than `grace` with no byte moving. Sending, the bytes counted are
// those the kernel took, and socket buffers take megabytes from a client that reads nothing —
// days of credit at 500 bytes/s; once they are full, a client that reads nothing has `grace`.
// `cap` without a minimum.
Deadline PacedWait(Deadline start, const MinRate& rate, uint64_t bytes, Deadline now, Deadline cap);

// The deadlines of one request.
struct RequestDeadlines {
  Deadline header;   // the header and name (v2: and the login's messages) are in by then
  Deadline request;  // the whole request is answered by then (request_timeout)
  // The earlier of the two: what reading the header and name may wait until.
  Deadline HeaderOrRequest() const { return header < request ? header : request; }
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_PACE_H_
