// worker (root until the drop, then unprivileged): confinement and credential change.
#ifndef BACKUPD_WORKER_PRIVDROP_H_
#define BACKUPD_WORKER_PRIVDROP_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <string>

#include "base/status.h"

namespace backupd::worker {

// Who a worker becomes. With `drop` false (the daemon was not started as root) the worker keeps
// its credentials and is not chrooted; the Landlock fence and UserDir's openat2 confinement still
// apply.
struct Identity {
  bool drop = true;
  uid_t uid = 0;
  gid_t gid = 0;
};

// When id.drop: chroots into `<storage>/.backupd-empty` (made root:root 0555 if missing; refused
// unless it is that and empty), empties the capability bounding set, sets groups/gid/uid, sets
// PR_SET_NO_NEW_PRIVS, and verifies that getuid/geteuid/getgid are the target, that root cannot
// be regained and that the bounding set holds no capability. Then, where the kernel
// has Landlock, fences the process to the storage folder (RestrictToFolder). Any failure aborts
// the process: a worker that is not confined must not live. It keeps no descriptor of storage.
void ConfineAndDropPrivileges(const std::string& storage, const Identity& id);

// Lowers RLIMIT_NPROC (soft and hard) to `max`, or to the hard limit already set if that is lower,
// and checks that it holds. The kernel counts every
// process of the real uid against it, so it bounds the forks of the whole user.
Status LimitProcesses(rlim_t max);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_PRIVDROP_H_
