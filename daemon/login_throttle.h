// supervisor (root): the login monitor's memory of failed logins per source address — which
// addresses must wait before their next try. Pure: the caller passes the clock in.
#ifndef BACKUPD_DAEMON_LOGIN_THROTTLE_H_
#define BACKUPD_DAEMON_LOGIN_THROTTLE_H_

#include <chrono>
#include <cstddef>
#include <map>

#include "ipc/peer_table.h"

namespace backupd::daemon {

// A source may fail `failures` logins within `window`; the failure that reaches that number
// starts an episode in which it is refused for a cool-down: `first_cool_down`, doubled for each
// further episode up to `max_cool_down`, and back to the first once the source has been quiet
// for `max_cool_down`. Other sources, and the same user elsewhere, are not affected: a guesser is
// slowed without locking the user out. IPv6 sources are counted per /64, the smallest block an
// end site is given, or one host could try from 2^64 addresses.
class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    size_t failures = 5;
    std::chrono::seconds window{60};
    std::chrono::seconds first_cool_down{60};
    std::chrono::seconds max_cool_down{900};
    // The table's bound: beyond it the source seen longest ago is forgotten.
    size_t max_sources = 4096;
  };

  LoginThrottle() = default;
  explicit LoginThrottle(Limits limits) : limits_(limits) {}

  // How long `source` must still wait, rounded up to whole seconds; zero when it may try.
  std::chrono::seconds Wait(const ipc::PeerAddress& source, Clock::time_point now) const;
  // Records a failed login; returns the cool-down when this failure starts an episode (the one
  // moment to log it), else zero.
  std::chrono::seconds Fail(const ipc::PeerAddress& source, Clock::time_point now);

  size_t size() const { return sources_.size(); }

 private:
  struct Source {
    Clock::time_point window_start;
    size_t failures = 0;
    Clock::time_point blocked_until;
    unsigned episodes = 0;
    Clock::time_point last_failure;
  };
  void EvictOldest();

  Limits limits_;
  std::map<ipc::PeerAddress, Source> sources_;
};

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_LOGIN_THROTTLE_H_
