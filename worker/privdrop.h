// worker (root until the drop, then unprivileged): confinement and credential change.
#ifndef BACKUPD_WORKER_PRIVDROP_H_
#define BACKUPD_WORKER_PRIVDROP_H_

#include <sys/types.h>

#include <string>

#include "base/unique_fd.h"

namespace backupd::worker {

// Who a worker becomes. With `drop` false (the daemon was not started as root) the worker keeps
// its credentials and is not chrooted; UserDir's openat2 confinement still applies.
struct Identity {
  bool drop = true;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Opens the storage folder, then (when id.drop) chroots into it, sets groups/gid/uid, sets
// PR_SET_NO_NEW_PRIVS, and verifies that getuid/geteuid/getgid are the target and that root
// cannot be regained. Any failure aborts the process: a worker that is not confined must not
// live. Returns an O_DIRECTORY descriptor of the storage root (valid inside the chroot).
UniqueFd ConfineAndDropPrivileges(const std::string& storage, const Identity& id);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_PRIVDROP_H_
