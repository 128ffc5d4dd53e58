// client (the user's privilege): the walk over backup-client's PATH arguments — what there is to
// back up, under which stored name, with the kind, mode and time the v2 attributes will carry.
#ifndef BACKUPD_CLIENT_TREE_WALK_H_
#define BACKUPD_CLIENT_TREE_WALK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "client/exclude.h"

namespace backupd::client {

// One thing found: a regular file or a folder (a walked PATH's own folder too, unless its stored
// name is empty: "." or "/").
struct WalkEntry {
  enum class Kind { kFile, kFolder };
  Kind kind = Kind::kFile;
  std::string path;   // as opened locally
  std::string name;   // the stored name
  uint32_t mode = 0;  // permission bits (07777)
  int64_t mtime_ns = 0;
  uint64_t size = 0;  // 0 for a folder
};

// What the walk could not take: a path and why. Counted as failed by the run.
struct WalkFailure {
  std::string path;
  std::string why;
};

struct WalkOptions {
  bool follow_symlinks = false;
  const ExcludeRules* exclude = nullptr;  // matched against the path below each walked folder
};

struct WalkResult {
  std::vector<WalkEntry> entries;  // in walk order: a folder before what it holds
  std::vector<WalkFailure> failures;
  std::vector<std::string> notes;  // what was skipped on purpose (symlinks, sockets, ...)
};

// The stored name of `path` (a PATH argument): the path with '.' components, repeated and
// trailing '/' dropped and the leading '/' stripped, as tar does ("/home/a/docs/" ->
// "home/a/docs"; "." -> ""). Invalid for a path with a ".." component: where it points is not
// what its name says.
Result<std::string> StoredPrefix(const std::string& path);

// Walks each of `paths` (fts(3), physical unless follow_symlinks, where a folder that is its own
// ancestor is a failure, not a loop). A file PATH is one entry; a folder PATH is walked and its
// entries are stored as StoredPrefix(PATH) + "/" + the path below it. Symlinks (unless followed),
// sockets, FIFOs and devices are skipped with a note; what cannot be read is a failure, as is a
// name the server would refuse (protocol::NormalizeName: a component starting with ".backupd-",
// over 255 bytes, a name over 4096). Excluded entries are left out silently, an excluded folder
// with all it holds.
WalkResult Walk(const std::vector<std::string>& paths, const WalkOptions& options);

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_TREE_WALK_H_
