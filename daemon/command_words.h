// `backupd user|scrub ...` (root, short-lived commands): the words every such command shares.
#ifndef BACKUPD_DAEMON_COMMAND_WORDS_H_
#define BACKUPD_DAEMON_COMMAND_WORDS_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "conf/config.h"

namespace backupd::daemon {

// A command's words after its name: -c FILE, --config FILE, --config=FILE and -h/--help
// anywhere, every other word positional. Any other word starting with '-' is refused.
struct CommandWords {
  conf::CommandLine config;
  bool help = false;
  std::vector<std::string> positional;
};
Result<CommandWords> ParseCommandWords(const std::vector<std::string>& words);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_COMMAND_WORDS_H_
