// worker user (scrub and prune): the advisory lock on one user's folder that
// jobs walking all of it take, so two never run on one user at once, on any node of a storage.
#ifndef BACKUPD_WORKER_USER_LOCK_H_
#define BACKUPD_WORKER_USER_LOCK_H_

#include <utility>

#include "base/status.h"
#include "base/unique_fd.h"
#include "worker/sys.h"

namespace backupd::worker {

// An exclusive flock(2) on `<uid>/.backupd-lock` (made, 0600, when absent), held until destroyed.
// A file, not the folder: on GlusterFS a flock on a folder did not reach another FUSE mount of
// the volume, while one on a file did (the volume's locks translator holds it); tests/nodes/run.sh
// checks that across two mounts. Uploads, restores and deletes do not take it: it orders the
// jobs that walk a whole folder (scrub, pruning), not requests.
class UserLock {
 public:
  enum class Wait { kYes, kNo };
  // Takes the lock of the user folder `user_fd`, waiting for another holder to let go, or with
  // Wait::kNo answering Status::Timeout at once while one holds it.
  static Result<UserLock> Take(Sys* sys, int user_fd, Wait wait);

 private:
  explicit UserLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_USER_LOCK_H_
