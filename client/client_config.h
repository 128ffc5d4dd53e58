// client (the user's privilege): the client config file (~/.config/backupd/client.conf) and the
// secret file, read and checked before anything is sent.
#ifndef BACKUPD_CLIENT_CLIENT_CONFIG_H_
#define BACKUPD_CLIENT_CLIENT_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace backupd::client {

// The keys of client.conf; each is unset unless the file names it. The command line wins.
struct ClientConfig {
  std::optional<std::string> server;
  std::optional<std::string> user;
  std::optional<std::string> secret_file;
  std::optional<bool> tls;
  std::optional<std::string> ca;
  // What `backup-client backup` with no PATH backs up, and its excludes; these keys may repeat,
  // each line adding to the list.
  std::vector<std::string> paths;
  std::vector<std::string> exclude;
  std::vector<std::string> exclude_from;
};

// `KEY = VALUE` lines (spaces around '=' optional); blank lines and lines starting with '#' are
// skipped. Keys: server, user, secret_file, tls (yes/no, true/false, on/off, 1/0), ca; and, each
// as often as wanted, paths (whitespace-separated paths: a path with a space cannot be written
// here), exclude (one pattern, the rest of the line) and exclude_from (one file). An unknown key,
// a line without '=', an empty value, a bad tls value or another key given twice is
// Invalid("FILE:LINE: ..."). `file` names the text in messages.
Result<ClientConfig> ParseClientConfig(std::string_view text, const std::string& file);

// Reads and parses `path`; a file that does not exist is an empty config, not an error.
Result<ClientConfig> LoadClientConfig(const std::string& path);

// $XDG_CONFIG_HOME/backupd/client.conf, else $HOME/.config/backupd/client.conf; empty when
// neither variable is set.
std::string DefaultClientConfigPath();

// The whole of `path`, a small file (at most 64 KiB, else TooLarge).
Result<std::string> ReadSmallFile(const std::string& path);

// The secret in `path`: its first line, trimmed of surrounding whitespace. Refused with Denied
// when the file is readable or writable by group or others (the message says `chmod 600 FILE`),
// and with Invalid when the first line is empty.
Result<std::string> ReadSecretFile(const std::string& path);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_CLIENT_CONFIG_H_
