// worker session child (unprivileged): fences the process to one folder with Landlock.
#ifndef BACKUPD_WORKER_LANDLOCK_H_
#define BACKUPD_WORKER_LANDLOCK_H_

#include "base/status.h"

namespace backupd::worker {

// The Landlock ABI version of the running kernel, 0 where it has none (not built, or disabled at
// boot).
int LandlockAbi();

// Restricts the calling process, for good and for every child it forks, to the files beneath the
// folder `dir_fd` (an O_DIRECTORY descriptor): read, write, truncate, create and remove regular
// files and folders there, rename and link within it; nothing else anywhere — no execute, no
// special files, no symlinks, no TCP bind/connect (ABI >= 4), no abstract unix sockets or
// signals outside the process's own domain (ABI >= 6). Every right the kernel knows is handled,
// so whatever is not granted is refused. Landlock checks when a path is opened: descriptors
// already open keep working, so call this with none open but those the process must keep.
// Needs PR_SET_NO_NEW_PRIVS (set by the privilege drop; checked here). NotFound when the kernel
// has no Landlock (the caller falls back to chroot + openat2); any other error means the
// restriction did not take effect.
Status RestrictToFolder(int dir_fd);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_LANDLOCK_H_
