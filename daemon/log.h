// supervisor (root): the daemon's log — Boost.Log sinks for stderr, a file, or syslog.
// Only the supervisor logs; workers send their lines over the report pipe.
#ifndef BACKUPD_DAEMON_LOG_H_
#define BACKUPD_DAEMON_LOG_H_

#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_logger.hpp>

#include "base/status.h"
#include "conf/config.h"

#include <ostream>
#include <string>

namespace backupd::conf {
// Boost.Log formats the Severity attribute with this.
inline std::ostream& operator<<(std::ostream& os, LogLevel level) {
  return os << LogLevelName(level);
}
}  // namespace backupd::conf

namespace backupd::daemon {

using Logger = boost::log::sources::severity_logger<conf::LogLevel>;
Logger& GlobalLogger();

// Where "log = syslog" goes in the background when no syslog daemon listens (a container, a
// minimal install): the file logrotate already rotates. Its folder is created 0750 if missing.
inline constexpr char kFallbackLogFile[] = "/var/log/backupd/backupd.log";

// Where the log goes: "syslog", "stderr" or a file path, and, for a fallback, why.
struct LogTarget {
  std::string where;
  std::string why;  // empty unless this is a fallback
};

// `config.log`, except that "syslog" with no syslog daemon listening on /dev/log (syslog(3) would
// drop every line without a word) becomes stderr in the foreground, else kFallbackLogFile.
LogTarget ChooseLogTarget(const conf::Config& config, bool foreground);

// Replaces the sink with the one `target` names, at `config.log_level`; a fallback's first line
// is its `why`. On failure (an unwritable file) the previous sink stays.
Status SetUpLogging(const conf::Config& config, const LogTarget& target);
// Writes `line` as an error to the log set up by SetUpLogging, unless that log is stderr (where
// the caller already wrote it) or none was set up yet: a daemon's last words before it exits.
void LogLastWords(const std::string& line);
// Closes and reopens the log file (after logrotate moved it); a no-op for stderr and syslog.
Status ReopenLogs();

}  // namespace backupd::daemon

#define BACKUPD_LOG(level) \
  BOOST_LOG_SEV(::backupd::daemon::GlobalLogger(), ::backupd::conf::LogLevel::level)

#endif  // BACKUPD_DAEMON_LOG_H_
