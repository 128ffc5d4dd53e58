// `backupd user|scrub ...` (root, short-lived commands): parsing the words they share.
#include "daemon/command_words.h"

#include "base/text.h"

namespace backupd::daemon {

Result<CommandWords> ParseCommandWords(const std::vector<std::string>& words) {
  CommandWords c;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "-h" || w == "--help") {
      c.help = true;
    } else if (w == "-c" || w == "--config") {
      if (++i == words.size()) return Status::Invalid(w + " needs a FILE");
      c.config.config_path = words[i];
      c.config.config_given = true;
    } else if (w.rfind("--config=", 0) == 0) {
      c.config.config_path = w.substr(9);
      c.config.config_given = true;
    } else if (!w.empty() && w[0] == '-') {
      return Status::Invalid("unknown option '" + EscapeUntrusted(w) + "'");
    } else {
      c.positional.push_back(w);
    }
  }
  return c;
}

}  // namespace backupd::daemon
