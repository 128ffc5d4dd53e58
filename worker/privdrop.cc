// worker (root until the drop, then unprivileged): chroot, capability bounding set,
// setgroups/setresgid/setresuid, verify, then the Landlock fence around the storage folder.
#include "worker/privdrop.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/unique_fd.h"
#include "worker/landlock.h"

namespace backupd::worker {

namespace {

constexpr char kEmptyRootName[] = ".backupd-empty";

[[noreturn]] void Die(const char* step) {
  // stderr is the supervisor's (or /dev/null): there is no report channel worth trusting here.
  std::fprintf(stderr, "backupd worker: privilege drop failed at %s: %s\n", step,
               std::strerror(errno));
  std::abort();
}

// Makes (if missing) and opens `<storage>/.backupd-empty`: a folder only root may change, with
// nothing in it. The storage folder is the worker user's, so whatever sits at that name may have
// been swapped in by a worker: anything but an empty root:root 0555 folder is refused.
UniqueFd OpenEmptyRoot(int storage_fd) {
  // mkdirat's mode passes through the umask backupd was started with (027 would make it 0550,
  // refused below); this process is not threaded yet, so the umask may change for the call.
  const mode_t inherited = ::umask(0);
  const int made = ::mkdirat(storage_fd, kEmptyRootName, 0555);
  ::umask(inherited);
  if (made != 0 && errno != EEXIST) Die("mkdir empty root");
  UniqueFd fd(
      ::openat(storage_fd, kEmptyRootName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) Die("open empty root");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) Die("stat empty root");
  errno = EPERM;
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0555) {
    Die("verify empty root: not a root:root 0555 folder");
  }
  DIR* dir = ::fdopendir(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (dir == nullptr) Die("list empty root");
  int entries = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++entries;
  }
  ::closedir(dir);
  errno = EPERM;
  if (entries != 0) Die("verify empty root: not empty");
  return fd;
}

// Empties the capability bounding set (needs CAP_SETPCAP, so before the uid changes): no file
// capability can give a worker any capability back, whatever it executes.
void DropBoundingSet() {
  for (int cap = 0; ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) Die("PR_CAPBSET_DROP");
  }
}

// True when no capability the kernel knows is left in the bounding set.
bool BoundingSetEmpty() {
  int cap = 0;
  for (int held; (held = ::prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; ++cap) {
    if (held != 0) return false;
  }
  return cap > 0;
}

}  // namespace

void ConfineAndDropPrivileges(const std::string& storage, const Identity& id) {
  // Held only while confining: every folder the worker serves comes from the login monitor.
  UniqueFd fd(::open(storage.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) Die("open storage");
  if (id.drop) {
    UniqueFd empty = OpenEmptyRoot(fd.get());
    if (::fchdir(empty.get()) != 0) Die("fchdir empty root");
    if (::chroot(".") != 0) Die("chroot");
    if (::chdir("/") != 0) Die("chdir");
    DropBoundingSet();
    gid_t groups[1] = {id.gid};
    if (::setgroups(1, groups) != 0) Die("setgroups");
    if (::setresgid(id.gid, id.gid, id.gid) != 0) Die("setresgid");
    if (::setresuid(id.uid, id.uid, id.uid) != 0) Die("setresuid");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("PR_SET_NO_NEW_PRIVS");

    // Trust nothing: check the result, and that the way back to root is closed.
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (::getresuid(&r, &e, &s) != 0 || r != id.uid || e != id.uid || s != id.uid) {
      Die("verify uid");
    }
    if (::getresgid(&rg, &eg, &sg) != 0 || rg != id.gid || eg != id.gid || sg != id.gid) {
      Die("verify gid");
    }
    if (id.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
      errno = EPERM;
      Die("verify that root cannot be regained");
    }
    if (id.gid != 0 && ::setgid(0) == 0) {
      errno = EPERM;
      Die("verify that gid 0 cannot be regained");
    }
    if (!BoundingSetEmpty()) {
      errno = EPERM;
      Die("verify the empty capability bounding set");
    }
  }
  // Everything a worker makes is its user's alone (files 0600, folders 0700, docs/STORAGE.md):
  // with this umask the create calls give exactly those modes, whatever umask backupd was started
  // with, and no upload needs an fchmod.
  ::umask(077);
  // The folders the monitor hands over lie outside the chroot, so `..` from one leads out of it;
  // not out of this fence, in which each session child's (its user's folder) nests. Without
  // Landlock the worker says so once it runs (worker_main.cc) and goes on with the chroot alone.
  if (LandlockAbi() > 0) {
    Status fence = RestrictToFolder(fd.get());
    if (!fence.ok()) {
      std::fprintf(stderr, "backupd worker: landlock failed: %s\n", fence.ToString().c_str());
      std::abort();
    }
  }
}

Status LimitProcesses(rlim_t max) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NPROC, &limit) != 0) return Status::FromErrno(errno, "RLIMIT_NPROC");
  // Only ever lowered: an unprivileged process cannot raise its hard limit.
  limit.rlim_cur = limit.rlim_max = std::min(max, limit.rlim_max);
  if (::setrlimit(RLIMIT_NPROC, &limit) != 0) return Status::FromErrno(errno, "RLIMIT_NPROC");
  rlimit now{};
  if (::getrlimit(RLIMIT_NPROC, &now) != 0 || now.rlim_cur > max || now.rlim_max > max) {
    return Status::Denied("RLIMIT_NPROC did not hold");
  }
  return Status::Ok();
}

}  // namespace backupd::worker
