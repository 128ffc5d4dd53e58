// supervisor (root): counting failed logins per source address and timing their cool-downs.
#include "daemon/login_throttle.h"

#include <algorithm>

namespace backupd::daemon {

std::chrono::seconds LoginThrottle::Wait(const ipc::PeerAddress& source,
                                         Clock::time_point now) const {
  auto it = sources_.find(ipc::SourceBlock(source));
  if (it == sources_.end() || now >= it->second.blocked_until) return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(it->second.blocked_until - now);
}

std::chrono::seconds LoginThrottle::Fail(const ipc::PeerAddress& source, Clock::time_point now) {
  const ipc::PeerAddress key = ipc::SourceBlock(source);
  auto it = sources_.find(key);
  if (it == sources_.end()) {
    if (sources_.size() >= limits_.max_sources) EvictOldest();
    it = sources_.emplace(key, Source{now, 0, now, 0, now}).first;
  }
  Source& s = it->second;
  // Quiet since its last failure or the end of its last cool-down, whichever came later.
  if (now - std::max(s.last_failure, s.blocked_until) >= limits_.max_cool_down) s.episodes = 0;
  if (now - s.window_start >= limits_.window) {
    s.window_start = now;
    s.failures = 0;
  }
  s.last_failure = now;
  if (++s.failures < limits_.failures) return std::chrono::seconds(0);
  const std::chrono::seconds doubled = limits_.first_cool_down * (1 << std::min(s.episodes, 20U));
  const std::chrono::seconds cool_down = std::min(doubled, limits_.max_cool_down);
  ++s.episodes;
  s.failures = 0;
  s.window_start = now;
  s.blocked_until = now + cool_down;
  return cool_down;
}

void LoginThrottle::EvictOldest() {
  auto oldest = std::min_element(
      sources_.begin(), sources_.end(),
      [](const auto& a, const auto& b) { return a.second.last_failure < b.second.last_failure; });
  if (oldest != sources_.end()) sources_.erase(oldest);
}

}  // namespace backupd::daemon
