// worker (unprivileged): where a protocol v1 request gets its user's folder — the one call the
// v1 path makes, so the worker itself need not hold the storage root.
#ifndef BACKUPD_WORKER_FOLDER_SOURCE_H_
#define BACKUPD_WORKER_FOLDER_SOURCE_H_

#include <cstdint>

#include "base/status.h"
#include "base/unique_fd.h"

namespace backupd::worker {

class FolderSource {
 public:
  virtual ~FolderSource() = default;
  // An O_DIRECTORY descriptor of `user_id`'s folder for a v1 request of the current connection;
  // with `create`, a missing folder is made (a backup). NotFound: no such folder and not
  // `create`. Denied, with the reason for the log: legacy_v1 refuses this peer (answer 1003).
  // Any other error: the folder could not be had (1003).
  virtual Result<UniqueFd> V1Folder(uint32_t user_id, bool create) = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_FOLDER_SOURCE_H_
