// client (the user's privilege): restoring a stored folder — every file under a prefix, written
// below one local folder and nowhere else, whatever names the server sends.
#ifndef BACKUPD_CLIENT_RESTORE_TREE_H_
#define BACKUPD_CLIENT_RESTORE_TREE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "client/client_v2.h"
#include "client/output_file.h"
#include "protocol/wire_v2.h"

namespace backupd::client {

// A stored file a folder restore takes, and its path below the output folder.
struct RestoreTarget {
  std::string name;
  std::string relative;
};

// The names in `stored` under `prefix` ("docs" takes "docs/..."; an empty prefix takes all), each
// with the rest of its name as its relative path. Names are the server's, so untrusted: one that
// is not already in the server's own normal form (protocol::NormalizeName: no leading '/', no
// empty, "." or ".." component, no NUL) is refused, with why, into `refused`.
std::vector<RestoreTarget> SelectUnder(std::string_view prefix,
                                       const std::vector<protocol::v2::ListEntry>& stored,
                                       std::vector<std::string>* refused);

struct RestoreTreeHooks {
  // A name refused or a local folder that could not be made: the name (or path) and why.
  std::function<void(const std::string& what, const std::string& why)> failed;
  // A file not restored because `output` exists (Existing::kKeep); nothing was asked for it.
  std::function<void(const std::string& output)> exists;
  // Each file's restore outcome (ClientV2::RestoreToFile); returns true when it was restored.
  std::function<bool(const RestoreTarget& target, const Result<ReplyV2>& outcome)> restored;
};

// Restores `targets` into `dir` (made, 0777 & ~umask, if missing; its parent must exist),
// recreating the folders between (never following a symlink on the way: a folder component that
// is not a real folder fails that file). Returns how many files failed; stops early only when the
// connection is lost.
size_t RestoreTree(ClientV2& client, const std::vector<RestoreTarget>& targets,
                   const std::string& dir, Existing existing, const RestoreTreeHooks& hooks);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_RESTORE_TREE_H_
