// client (the user's privilege): the SCRAM keys of the last login, kept beside the secret file so
// that the next login to the same server skips the PBKDF2 (docs/SECURITY.md, "The client").
#ifndef BACKUPD_CLIENT_SCRAM_CACHE_H_
#define BACKUPD_CLIENT_SCRAM_CACHE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "protocol/scram.h"

namespace backupd::client {

// Where logins as one user to one server keep their keys: `path` is the secret file's name with
// ".scram-cache" appended, `server` the server as "HOST:PORT".
struct ScramCache {
  ScramCache(const std::string& secret_file, std::string server_name)
      : path(secret_file + ".scram-cache"), server(std::move(server_name)) {}
  std::string path;
  std::string server;

  // The keys kept for `user` at this server and sealed with `secret`; nothing when the file is
  // absent, not a regular file of this user that only they may read and write, or holds keys
  // for another server, user or secret.
  std::optional<protocol::ScramClientKeys> Load(uint32_t user, const std::string& secret) const;
  // Replaces the file with `keys` (a 0600 temp file renamed over it). Best effort: a folder the
  // user may not write to, or one that others may write to or own, only means no cache.
  void Save(uint32_t user, const std::string& secret, const protocol::ScramClientKeys& keys) const;
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_SCRAM_CACHE_H_
