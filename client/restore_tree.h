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

// A stored file or folder a folder restore takes, its path below the output folder (empty for
// the restored folder itself) and the attributes the server keeps for it (a mode of 0 and, for a
// folder, an mtime of 0 are not known).
struct RestoreTarget {
  std::string name;
  std::string relative;
  protocol::v2::EntryKind kind = protocol::v2::EntryKind::kFile;
  protocol::v2::Attributes attributes;
};

// The entries of `stored` under `prefix` ("docs" takes "docs/..." and the folder "docs"; an empty
// prefix takes all), each with the rest of its name as its relative path. Names are the
// server's, so untrusted: one that is not already in the server's own normal form
// (protocol::NormalizeName: no leading '/', no empty, "." or ".." component, no NUL) is refused,
// with why, into `refused`.
std::vector<RestoreTarget> SelectUnder(std::string_view prefix,
                                       const std::vector<protocol::v2::AttrEntry>& stored,
                                       std::vector<std::string>* refused);

// The files of a LIST (op 202) as SelectUnder takes them: all a server from before issue 12 can
// tell (no mode, no folder; the mtime is when it stored the file).
std::vector<protocol::v2::AttrEntry> FilesAsAttrEntries(
    const std::vector<protocol::v2::ListEntry>& files);

// The permission bits a restore gives: all for root (as tar -p restores a system), the setuid and
// setgid bits never for anyone else, who would otherwise turn what the server sent into a program
// that runs as them for whoever starts it.
uint32_t RestorableMode(uint32_t mode);

struct RestoreTreeHooks {
  // A name refused or a local folder that could not be made: the name (or path) and why.
  std::function<void(const std::string& what, const std::string& why)> failed;
  // A file not restored because `output` exists (Existing::kKeep); nothing was asked for it.
  std::function<void(const std::string& output)> exists;
  // Each file's restore outcome (ClientV2::RestoreToFile); returns true when it was restored.
  std::function<bool(const RestoreTarget& target, const Result<ReplyV2>& outcome)> restored;
};

// Restores `targets` into `dir` (made, 0777 & ~umask, if missing; its parent must exist): every
// folder (empty ones too) and the folders between, never following a symlink on the way (a folder
// component that is not a real folder fails what is below it); each file with its mtime and its
// RestorableMode; then each folder's mode and mtime, deepest first, as writing into a folder
// changes its mtime and a folder's mode may forbid writing. `dir` itself takes the attributes of
// the target with an empty relative path only when this call made it. Returns how many files and
// folders failed; stops early only when the connection is lost.
size_t RestoreTree(ClientV2& client, const std::vector<RestoreTarget>& targets,
                   const std::string& dir, Existing existing, const RestoreTreeHooks& hooks);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_RESTORE_TREE_H_
