// client (the user's privilege): pure parsing of backup-client's command-line values; no I/O.
#ifndef BACKUPD_CLIENT_PARSE_H_
#define BACKUPD_CLIENT_PARSE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace backupd::client {

inline constexpr uint16_t kDefaultPort = 1337;

// Where the server listens: a host name or numeric address (IPv6 without brackets) and a port.
struct Endpoint {
  std::string host;
  uint16_t port = kDefaultPort;
};

// Parses "HOST:PORT", "[IPV6]:PORT", "HOST" or "[IPV6]" (the port defaults to kDefaultPort).
// A bare IPv6 address without brackets is refused: "::1:1337" cannot be split without guessing.
// The port must be decimal 1..65535. A value with characters no host or address has (server.info's
// "HOST PORT", a URL) is refused as "expected HOST:PORT" rather than looked up as a name.
Result<Endpoint> ParseEndpoint(std::string_view text);

// "HOST:PORT" or "[IPV6]:PORT", for messages.
std::string FormatEndpoint(const Endpoint& endpoint);

// A user id: decimal digits only, 0..4294967295 (no sign, no spaces, no hex).
Result<uint32_t> ParseUserId(std::string_view text);

// The name a local file is stored under: the path as given with its leading '/' stripped (as tar
// does), checked with the server's own name rules so a bad name is refused before connecting.
Result<std::string> StoredName(std::string_view path);

// What every request checks of its name before sending it: 1..kMaxNameLen bytes, so the length
// fits its field. The name rules are the server's to apply.
Status CheckRequestName(std::string_view name);

// Where `restore NAME` writes by default: the last component of NAME, in the current folder.
Result<std::string> DefaultRestoreOutput(std::string_view name);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_PARSE_H_
