// supervisor (root): turning a worker's (untrusted, already validated) report into log text — the
// pure part of reports.cc, apart so it can be tested without a pipe.
#ifndef BACKUPD_DAEMON_REPORTS_H_
#define BACKUPD_DAEMON_REPORTS_H_

#include <sys/types.h>

#include <string>

#include "conf/config.h"
#include "ipc/report.h"

namespace backupd::daemon {

// The log level a worker's kLog severity is written at.
conf::LogLevel ToLogLevel(ipc::Severity severity);

// The access-log line of a kRequest report from worker `pid`: peer, user, op, the escaped name,
// status, bytes, microseconds, pid and, if it failed, the escaped error.
std::string AccessLine(const ipc::Report& r, pid_t pid);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_REPORTS_H_
