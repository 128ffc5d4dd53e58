// client (the user's privilege): backup-client's version commands over protocol v2 — `list
// --versions NAME`, `restore NAME --version K | --before TIME` — and the times they read and print.
#ifndef BACKUPD_CLIENT_VERSIONS_COMMAND_H_
#define BACKUPD_CLIENT_VERSIONS_COMMAND_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/client_v2.h"
#include "protocol/wire_v2.h"

namespace backupd::client {

// A point in time as the command line gives it: "@SECONDS" since the epoch, or ISO 8601 in UTC —
// "2026-11-27T16:56:55Z" (the Z may be left out; a space may stand for the T) or "2026-11-27"
// (midnight). Nanoseconds since the epoch; Invalid for anything else.
Result<int64_t> ParseTime(std::string_view text);
// "2026-11-27T16:56:55Z": `ns` in UTC, to the second ("-" if it cannot be shown).
std::string FormatUtc(int64_t ns);
// The digest in hex, or "-" for none stored (32 zero bytes).
std::string DigestHex(const protocol::Digest& digest);

// The version a restore asks for: a number, or the newest stored at or before a time.
struct VersionWanted {
  std::optional<uint64_t> number;
  std::optional<int64_t> before_ns;
};
// The newest of `versions` stored at or before `before_ns`, if any.
std::optional<uint64_t> VersionBefore(const std::vector<protocol::v2::VersionEntry>& versions,
                                      int64_t before_ns);

// Prints the versions of `name` on `out`, one a line, oldest first:
// "VERSION STORED SIZE SHA256 STATE", STORED in UTC and STATE "current", "deleted" (the file was
// deleted after this version) or "-". The reply says how the server answered.
Result<ReplyV2> ListVersionsCommand(ClientV2& client, std::string_view name, std::ostream& out);
// Restores the version `wanted` of `name` to `output` ("-": standard output), as restore does.
// --before asks for the list first; no version stored by then is a 1001 reply of its own.
Result<ReplyV2> RestoreVersionCommand(ClientV2& client, std::string_view name,
                                      const VersionWanted& wanted, const std::string& output,
                                      Existing existing, const ProgressFn& progress);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_VERSIONS_COMMAND_H_
