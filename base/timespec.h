// shared (any privilege): a std::chrono duration as the timespec that ppoll() takes.
#ifndef BACKUPD_BASE_TIMESPEC_H_
#define BACKUPD_BASE_TIMESPEC_H_

#include <time.h>

#include <chrono>

namespace backupd {

// A negative duration (a deadline already passed) becomes zero: poll once, do not block.
template <typename Rep, typename Period>
timespec ToTimespec(std::chrono::duration<Rep, Period> d) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

}  // namespace backupd

#endif  // BACKUPD_BASE_TIMESPEC_H_
