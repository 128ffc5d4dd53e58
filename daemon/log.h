// supervisor (root): the daemon's log — Boost.Log sinks for stderr, a file, or syslog.
// Only the supervisor logs; workers send their lines over the report pipe.
#ifndef BACKUPD_DAEMON_LOG_H_
#define BACKUPD_DAEMON_LOG_H_

#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_logger.hpp>

#include "base/status.h"
#include "conf/config.h"

#include <ostream>

namespace backupd::conf {
// Boost.Log formats the Severity attribute with this.
inline std::ostream& operator<<(std::ostream& os, LogLevel level) {
  return os << LogLevelName(level);
}
}  // namespace backupd::conf

namespace backupd::daemon {

using Logger = boost::log::sources::severity_logger<conf::LogLevel>;
Logger& GlobalLogger();

// Replaces the sink with the one `config.log` names ("stderr", "syslog" or a file path) at
// `config.log_level`. On failure (an unwritable file) the previous sink stays.
Status SetUpLogging(const conf::Config& config);
// Closes and reopens the log file (after logrotate moved it); a no-op for stderr and syslog.
Status ReopenLogs();

}  // namespace backupd::daemon

#define BACKUPD_LOG(level) \
  BOOST_LOG_SEV(::backupd::daemon::GlobalLogger(), ::backupd::conf::LogLevel::level)

#endif  // BACKUPD_DAEMON_LOG_H_
