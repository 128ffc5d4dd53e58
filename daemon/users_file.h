// supervisor (root) and `backupd user` (root): the users file, user id -> SCRAM verifier. Read
// and written on the privileged side only; no worker ever sees it.
#ifndef BACKUPD_DAEMON_USERS_FILE_H_
#define BACKUPD_DAEMON_USERS_FILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"
#include "protocol/scram.h"

namespace backupd::daemon {

// Every registered user, by id.
using Users = std::map<uint32_t, protocol::ScramVerifier>;

// One line per user, the PostgreSQL form of a SCRAM verifier (all base64 standard, padded):
//   ID SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY
// '#' starts a comment line; empty lines are skipped. Nothing else is accepted: a single space,
// decimal ids (each once), 16..64-byte salts, 4096..1000000 iterations, 32-byte keys.
//
// Refuses (Denied, with the fix) a file owned by anyone but root or the caller's euid, or one
// that group or others may read or write: the verifiers let whoever holds them impersonate the
// server to clients, and make an offline guess at a secret possible. A malformed line is
// Invalid("FILE:LINE: reason"); no message quotes a verifier. A missing file is NotFound.
Result<Users> LoadUsersFile(const std::string& path);

// Serialises the read-change-write of concurrent `backupd user` runs, which could otherwise lose
// one of two simultaneous adds: an exclusive flock on the file's folder (the atomic rename
// replaces the file's inode, so a lock on the file would not hold), released when the descriptor
// closes. With `create`, a missing folder is made first, mode 0755, but not its parents (as for
// storage: a missing /etc is a typo, not a wish).
Result<UniqueFd> LockUsersFolder(const std::string& path, bool create);

// Writes `users` in id order, atomically (readers see the old or the new file), mode 0600.
Status WriteUsersFile(const std::string& path, const Users& users);

// "SCRAM-SHA-256$4096:SALT$STOREDKEY:SERVERKEY" and back.
std::string FormatVerifier(const protocol::ScramVerifier& verifier);
Result<protocol::ScramVerifier> ParseVerifier(std::string_view text);

}  // namespace backupd::daemon

#endif  // BACKUPD_DAEMON_USERS_FILE_H_
