// worker (unprivileged): the deadline arithmetic of min_rate.
#include "worker/pace.h"

#include <algorithm>

namespace backupd::worker {

Deadline PaceDeadline(Deadline start, const MinRate& rate, uint64_t bytes, Deadline cap) {
  if (rate.bytes_per_second == 0) return cap;
  const Deadline after_grace = start + rate.grace;
  if (after_grace >= cap) return cap;
  // Whole seconds and the rest apart: bytes * 1e9 would overflow for files past 18 GB.
  const uint64_t whole = bytes / rate.bytes_per_second;
  const auto room = std::chrono::duration_cast<std::chrono::seconds>(cap - after_grace);
  if (whole >= static_cast<uint64_t>(room.count())) return cap;
  const uint64_t rest_ns = bytes % rate.bytes_per_second * 1'000'000'000 / rate.bytes_per_second;
  const Deadline d = after_grace + std::chrono::seconds(whole) + std::chrono::nanoseconds(rest_ns);
  return d < cap ? d : cap;
}

Deadline PacedWait(Deadline start, const MinRate& rate, uint64_t bytes, Deadline now,
                   Deadline cap) {
  if (rate.bytes_per_second == 0) return cap;
  return std::min(PaceDeadline(start, rate, bytes, cap), now + rate.grace);
}

}  // namespace backupd::worker
