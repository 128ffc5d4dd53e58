// supervisor (root) and, by copy, workers: the Config value, its defaults and its loading.
#ifndef BACKUPD_CONF_CONFIG_H_
#define BACKUPD_CONF_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace backupd::conf {

// One `listen` entry: host is a numeric IPv4 or IPv6 address (without brackets) or "localhost".
struct ListenAddress {
  std::string host;
  uint16_t port = 0;  // 0: the kernel picks a free port
  // "127.0.0.1:1337" or "[::1]:1337".
  std::string ToString() const;
};

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Who may still use protocol v1, which has no login: no one, clients on a loopback address
// (127.0.0.0/8, ::1, IPv4-mapped included), or everyone.
enum class LegacyV1 { kOff, kLoopback, kOn };

// The largest `workers.max`. The shared peer table holds twice as many slots (a reload overlaps two
// generations); daemon/spawn.cc asserts that at compile time.
inline constexpr uint32_t kMaxWorkers = 1024;

// The largest max_file_size, and its default: the largest size a file can have (off_t is signed),
// so by default only the disk limits a v2 upload. v1's 32-bit size field caps v1 uploads at
// 4 GiB - 1 whatever this says.
inline constexpr uint64_t kMaxFileSizeLimit = INT64_MAX;

// Everything the daemon is configured with. Defaults are the packaged daemon's.
struct Config {
  std::vector<ListenAddress> listen{{"127.0.0.1", 1337}};
  // The same protocol inside TLS on separate sockets; needs tls_cert and tls_key.
  std::vector<ListenAddress> tls_listen;
  // PEM files: the server certificate (then any intermediates) and its private key, which only
  // the supervisor reads, as root. Made absolute by Load(), like storage.
  std::string tls_cert;
  std::string tls_key;
  std::string storage = "/var/lib/backupd";  // made absolute by Load()
  std::string user = "backupd";
  std::string group = "backupd";
  std::string log = "syslog";  // "syslog", "stderr" or an absolute file path
  LogLevel log_level = LogLevel::kInfo;
  std::string pid_file = "/run/backupd.pid";
  uint64_t max_file_size = kMaxFileSizeLimit;  // bytes
  // A list is streamed, so this bounds the time one takes, not the worker's memory.
  uint32_t max_files_listed = 10000000;
  uint32_t idle_timeout = 30;  // seconds a connection may sit between requests
  // Seconds from a connection's start to its first header and name (v2: its login), and from a
  // later request's first byte to its header and name; also min_rate's grace. mod_reqtimeout's
  // default header timeout is 20-40 s.
  uint32_t header_timeout = 20;
  // Bytes per second a payload must average after header_timeout's grace (0 = no minimum):
  // mod_reqtimeout's MinRate default.
  uint32_t min_rate = 500;
  uint32_t request_timeout = 300;  // seconds one whole request may take
  uint32_t shutdown_timeout = 30;  // seconds in-flight requests get on SIGTERM
  // Connections queued while every worker is busy. 128 reset ~6 % of a 320-client burst; 4096 is
  // net.core.somaxconn's default since Linux 5.4, the most listen(2) grants (it caps larger
  // values).
  uint32_t listen_backlog = 4096;
  // How many workers one address (IPv6: one /64) may hold at once; 0 = unlimited. Half the default
  // workers.max, so one host that stalls leaves the other half to everyone else, while an office
  // behind one NAT address still runs 16 backups at once (the 17th is refused and retries).
  uint32_t max_connections_per_ip = 16;

  // Pool: `workers` are started; [workers] min_spare/max_spare/max/max_requests size it.
  uint32_t workers = 4;
  uint32_t workers_min_spare = 1;
  uint32_t workers_max_spare = 8;
  uint32_t workers_max = 32;
  uint32_t workers_max_requests = 0;  // recycle after N connections; 0 = never

  std::string status_socket = "/run/backupd.status";  // backupd status reads the scoreboard here
  std::string status_group;                           // group also allowed to read it ("" = root)
  std::string metrics_file;                           // Prometheus textfile; "" = off
  std::string users_file = "/etc/backupd/users";      // SCRAM verifiers (`backupd user`)
  LegacyV1 legacy_v1 = LegacyV1::kLoopback;

  // Versions of each stored file kept, the current one included, and days every version is kept
  // whatever keep_versions says. 1 and 0 keep no history: an upload replaces, a delete removes.
  uint32_t keep_versions = 1;
  uint32_t keep_days = 0;
  // Users who may add files and versions but never delete or shorten history (issue 12).
  std::vector<uint32_t> append_only_users;
  // Whether uploads and deletes keep history (for every user; append-only users always do).
  bool KeepsHistory() const { return keep_versions > 1 || keep_days > 0; }
  bool IsAppendOnly(uint32_t user_id) const;

  // This node's name in the temp files and upload records it leaves on a shared storage
  // ([A-Za-z0-9._-], 1..64 bytes); Load() sets the hostname when the file names none.
  std::string node_name;
};

// What the command line asked for, before the config file is read.
struct CommandLine {
  std::string config_path = "/etc/backupd.conf";
  bool foreground = false;
  bool test_config = false;
  bool help = false;
  bool version = false;
  bool status = false;           // `backupd status`: print the scoreboard and exit
  std::optional<uint16_t> port;  // bare PORT: replaces the port of every (plain) listen address
  std::vector<std::string> overrides;  // -o key=value (as in the file), applied after the file
  bool config_given = false;           // -c was on the command line
  std::string help_text;               // filled for --help
};

// Parses argv with Boost.Program_options. Invalid with a one-line message on a bad option.
Result<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// Reads the config file (with Boost.Program_options), applies the command line's overrides and
// port, and validates: an unknown key or bad value is Invalid("FILE:LINE: key: reason").
// A missing file is an error when -c named it; the default path may be absent (defaults apply).
Result<Config> LoadConfig(const CommandLine& cmd);

// Cross-field checks that need no system lookups (workers <= workers.max, min_spare <= max_spare,
// at least one listen address, ...). LoadConfig already calls it.
Status Validate(const Config& config);

// Settings that are valid but leave a defence off, one sentence each: `backupd -t` prints them,
// the daemon logs them at start and on reload. Today: a max_connections_per_ip that lets one
// address hold every worker.
std::vector<std::string> Warnings(const Config& config);

const char* LogLevelName(LogLevel level);
// "off", "loopback", "on": as the config file spells them.
const char* LegacyV1Name(LegacyV1 mode);

}  // namespace backupd::conf

#endif  // BACKUPD_CONF_CONFIG_H_
