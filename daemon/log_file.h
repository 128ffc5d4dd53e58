// supervisor (root): the log file as a std::ostream over a descriptor we opened ourselves, so a
// failed open reports its real errno and the descriptor is close-on-exec.
#ifndef BACKUPD_DAEMON_LOG_FILE_H_
#define BACKUPD_DAEMON_LOG_FILE_H_

#include <memory>
#include <ostream>
#include <string>

#include "base/status.h"

namespace backupd::daemon {

// Opens (creating with 0666 less the umask, as an ofstream would) `path` for appending, O_CLOEXEC.
// The stream buffers until flushed; a write that fails sets badbit, as a full disk would on an
// ofstream. "cannot open log file PATH: strerror" on failure.
Result<std::unique_ptr<std::ostream>> OpenLogFile(const std::string& path);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_LOG_FILE_H_
