// worker user (scrub, pruning): flock on `<uid>/.backupd-lock`, the per-user lock of whole-folder
// jobs, opened beneath the user's folder like every other name.
#include "worker/user_lock.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "protocol/wire.h"

namespace backupd::worker {
namespace {

constexpr std::string_view kLockName = ".backupd-lock";
static_assert(kLockName.substr(0, protocol::kReservedPrefix.size()) == protocol::kReservedPrefix,
              "the lock file must carry the prefix no user name may have");

}  // namespace

Result<UserLock> UserLock::Take(Sys* sys, int user_fd, Wait wait) {
  UniqueFd fd(sys->OpenAt2(
      user_fd, std::string(kLockName).c_str(), O_CREAT | O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
      0600, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV));
  if (!fd.valid()) return Status::FromErrno(errno, "open the user's lock");
  const int how = LOCK_EX | (wait == Wait::kNo ? LOCK_NB : 0);
  while (::flock(fd.get(), how) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Status::Timeout("the user's folder is locked by another job");
    return Status::FromErrno(errno, "lock the user's folder");
  }
  return UserLock(std::move(fd));
}

}  // namespace backupd::worker
