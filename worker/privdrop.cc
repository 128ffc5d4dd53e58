// worker (root until the drop, then unprivileged): chroot, setgroups/setresgid/setresuid, verify.
#include "worker/privdrop.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace backupd::worker {

namespace {

[[noreturn]] void Die(const char* step) {
  // stderr is the supervisor's (or /dev/null): there is no report channel worth trusting here.
  std::fprintf(stderr, "backupd worker: privilege drop failed at %s: %s\n", step,
               std::strerror(errno));
  std::abort();
}

}  // namespace

UniqueFd ConfineAndDropPrivileges(const std::string& storage, const Identity& id) {
  UniqueFd fd(::open(storage.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) Die("open storage");
  if (!id.drop) return fd;

  if (::chroot(storage.c_str()) != 0) Die("chroot");
  if (::chdir("/") != 0) Die("chdir");
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
  return fd;
}

}  // namespace backupd::worker
