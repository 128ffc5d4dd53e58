// `backupd scrub` and `backupd prune` (root until the storage folder is open, then the worker
// user; short-lived commands): what both do before they walk the user folders.
#ifndef BACKUPD_DAEMON_STORAGE_COMMAND_H_
#define BACKUPD_DAEMON_STORAGE_COMMAND_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "conf/config.h"

namespace backupd::daemon {

// `[-c FILE] [USER]`: the shared words (ParseCommandWords), then at most one user id.
struct StorageArgs {
  std::optional<std::string> user;
  conf::CommandLine config;
};
Result<StorageArgs> ParseStorageArgs(const std::vector<std::string>& words, bool* help);

// The storage, opened as root and then read as the worker user (who owns every user folder): a
// file planted by whoever took over that account can then give the command no more than that
// account already has.
struct Storage {
  conf::Config config;
  UniqueFd fd;                  // the storage folder
  std::vector<uint32_t> users;  // USER alone, or every user folder, ascending
};
// Loads the config, sets up the log (as `name`'s), opens the storage and drops to the worker
// user. Invalid for a USER that is not a user id.
Result<Storage> OpenStorageAsWorkerUser(const StorageArgs& args);

// The whole of `backupd NAME args`: `usage` on -h (exit 0), the error and `usage` on bad words
// (exit 2), else what `run` returns.
using StorageJob = std::function<int(const StorageArgs&, std::ostream& out, std::ostream& err)>;
int RunStorageCommand(std::string_view name, std::string_view usage,
                      const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                      const StorageJob& run);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_STORAGE_COMMAND_H_
