// shared (any privilege): a std::chrono duration as the timespec that ppoll() takes, and a time
// in nanoseconds since the epoch as the one futimens() takes.
#ifndef BACKUPD_BASE_TIMESPEC_H_
#define BACKUPD_BASE_TIMESPEC_H_

#include <time.h>

#include <chrono>
#include <cstdint>

namespace backupd {

// A negative duration (a deadline already passed) becomes zero: poll once, do not block.
template <typename Rep, typename Period>
timespec ToTimespec(std::chrono::duration<Rep, Period> d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

// Before the epoch too: timespec's nanoseconds are never negative (-1.5 s is {-2, 500000000}).
inline timespec EpochNsToTimespec(int64_t ns) {
  constexpr int64_t kNanos = 1000000000;
  int64_t sec = ns / kNanos;
  int64_t nsec = ns % kNanos;
  if (nsec < 0) {
    nsec += kNanos;
    --sec;
  }
  return timespec{static_cast<time_t>(sec), static_cast<long>(nsec)};
}

}  // namespace backupd

#endif  // BACKUPD_BASE_TIMESPEC_H_
