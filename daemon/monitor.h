// supervisor (root): the login monitor — answers each worker's fixed-size requests over its
// channel: checks SCRAM logins against the users file, and hands out a user's folder only after
// a good proof (or to a protocol v1 request that legacy_v1 allows).
#ifndef BACKUPD_DAEMON_MONITOR_H_
#define BACKUPD_DAEMON_MONITOR_H_

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "conf/config.h"
#include "daemon/login_throttle.h"
#include "daemon/users_file.h"
#include "ipc/monitor_messages.h"
#include "protocol/scram.h"
#include "worker/privdrop.h"

namespace backupd::daemon {

// What the monitor needs from the configuration.
struct MonitorSettings {
  UniqueFd storage;      // O_DIRECTORY descriptor of the storage root, opened as root
  uid_t folder_uid = 0;  // owner of a user's folder the monitor creates: the workers' user
  gid_t folder_gid = 0;
  conf::LegacyV1 legacy_v1 = conf::LegacyV1::kLoopback;
};

// OpenSSH's monitor inside the supervisor: one SCRAM exchange per worker channel at a time, each
// request checked against a table of what the channel's state permits (docs/SECURITY.md):
//
//   state      permitted                  moves to
//   idle       AuthStart, LegacyV1, Reset started (220) or refused; v1; idle
//   started    AuthFinish, Reset          logged in (221 + folder) or refused; idle
//   logged in  Reset                      idle
//   refused    Reset                      idle
//   v1         LegacyV1, Reset            v1; idle
//
// Anything else — a request out of its state, a bad magic, size or length, a descriptor sent
// to the monitor — is the worker's fault and fatal for it. Every answer is one non-blocking send.
class Monitor {
 public:
  using Clock = std::chrono::steady_clock;

  static Result<Monitor> Create(MonitorSettings settings, Users users,
                                LoginThrottle::Limits limits = {});

  // On reload: the new storage, folder owner and legacy_v1; the users, separately.
  void Configure(MonitorSettings settings) { settings_ = std::move(settings); }
  void SetUsers(Users users) { users_ = std::move(users); }

  // The supervisor's end of a new worker's channel, and its removal when the worker is gone.
  void Add(pid_t worker, UniqueFd channel);
  void Remove(pid_t worker) { channels_.erase(worker); }
  // (worker, descriptor) of every channel, to poll.
  std::vector<std::pair<pid_t, int>> Channels() const;

  // Serves every request waiting on `worker`'s channel. Closed when the worker closed its end
  // (it exited); any other error is the worker breaking the protocol: the caller removes the
  // channel and kills the worker.
  Status Serve(pid_t worker, Clock::time_point now);

 private:
  enum class State { kIdle, kStarted, kLoggedIn, kRefused, kV1 };
  struct Channel {
    UniqueFd fd;
    State state = State::kIdle;
    std::optional<protocol::ScramServer> scram;
    uint32_t user_id = 0;
    bool known = false;  // user_id is in the users file
    ipc::MonitorPeer peer;
  };
  struct Answer {
    uint16_t status = 0;
    std::string text;
    UniqueFd folder;
  };
  using Key = std::array<unsigned char, 32>;

  Monitor(MonitorSettings settings, Users users, LoginThrottle::Limits limits, const Key& key)
      : settings_(std::move(settings)), users_(std::move(users)), throttle_(limits), key_(key) {}

  Result<std::optional<Answer>> Handle(Channel& c, const void* message, size_t size,
                                       Clock::time_point now);
  Answer AuthStart(Channel& c, const ipc::AuthStartRequest& r, Clock::time_point now);
  Answer AuthFinish(Channel& c, const ipc::AuthFinishRequest& r, Clock::time_point now);
  Answer LegacyV1(const ipc::LegacyV1Request& r);
  // 1014 for the channel's user, the failure logged and counted against its address.
  Answer Failed(Channel& c, const std::string& why, Clock::time_point now);
  // 1015 when the channel's address is cooling down, else nothing.
  std::optional<Answer> Throttled(Channel& c, Clock::time_point now);
  Result<protocol::ScramVerifier> FakeVerifier(uint32_t user_id) const;
  // `<storage>/<user_id>`, made 0700 for the workers' user when missing and `create`.
  Result<UniqueFd> OpenFolder(uint32_t user_id, bool create);

  MonitorSettings settings_;
  Users users_;
  LoginThrottle throttle_;
  // Random for each daemon: the unknown users' made-up verifiers are derived from it.
  Key key_;
  std::map<pid_t, Channel> channels_;
};

// The storage root opened (as root), the workers' identity and legacy_v1 of `config`.
Result<MonitorSettings> LoadMonitorSettings(const conf::Config& config,
                                            const worker::Identity& identity);

// The users file, or no users when it is missing: protocol v1 needs none, and v2 then admits no
// one. Any other error (a malformed line, loose permissions) is returned.
Result<Users> LoadUsersOrNone(const std::string& path);

// True for 127.0.0.0/8 and ::1, IPv4-mapped included.
bool IsLoopback(const ipc::PeerAddress& address);
// "192.0.2.1", "2001:db8::1".
std::string FormatAddress(const ipc::PeerAddress& address);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_MONITOR_H_
