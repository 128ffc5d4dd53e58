// worker and session child (unprivileged, after the drop and the Landlock fence): the seccomp-BPF
// allow-lists, the one place that says which system calls a worker may make.
#ifndef BACKUPD_WORKER_SYSCALL_FILTER_H_
#define BACKUPD_WORKER_SYSCALL_FILTER_H_

#include "base/status.h"

namespace backupd::worker {

// Whose list to install. A session child inherits its worker's filter and stacks its own on it,
// so it gets the intersection: the worker's list less accepting, forking and fencing.
enum class FilterFor { kWorker, kSessionChild };

// Settles, while files can still be opened, what libraries would otherwise load lazily after the
// filter (OpenSSL's configuration and error strings): open and openat kill once the filter is on.
// Call before the chroot.
void PreloadBeforeFilter();

// Installs the allow-list of `who` on the calling process (libseccomp; any other call kills the
// whole process with SIGSYS), then checks that the kernel reports the process in filter mode.
Status InstallSyscallFilter(FilterFor who);

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_SYSCALL_FILTER_H_
