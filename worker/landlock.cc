// worker session child (unprivileged): Landlock through its raw system calls (landlock(7)).
#include "worker/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "base/unique_fd.h"

namespace backupd::worker {

namespace {

// The header of the build machine may be older than the kernel that runs us (Debian 12's stops at
// ABI 2), so the later rights and the later layout of the ruleset attribute are spelled out here.
constexpr uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr uint64_t kNetBindTcp = 1ULL << 0;   // ABI 4
constexpr uint64_t kNetConnectTcp = 1ULL << 1;
constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ULL << 1;

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;  // ABI 4
  uint64_t scoped;              // ABI 6
};

constexpr uint64_t kFsAbi1 =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
    LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
    LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
    LANDLOCK_ACCESS_FS_MAKE_SYM;

// What a backup session does in its folder: files and folders, made, read, written, truncated,
// renamed and removed. Not EXECUTE, not device/socket/fifo nodes, not symlinks, no device ioctls.
constexpr uint64_t kSessionRights =
    LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |
    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | kFsTruncate;

uint64_t HandledFs(int abi) {
  uint64_t fs = kFsAbi1;
  if (abi >= 2) fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) fs |= kFsTruncate;
  if (abi >= 5) fs |= kFsIoctlDev;
  return fs;
}

}  // namespace

int LandlockAbi() {
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

Status RestrictToFolder(int dir_fd) {
  const int abi = LandlockAbi();
  if (abi == 0) {
    return Status::NotFound("landlock unavailable (kernel ABI 0)");
  }
  RulesetAttr attr{};
  attr.handled_access_fs = HandledFs(abi);
  size_t attr_size = sizeof attr.handled_access_fs;
  if (abi >= 4) {
    attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    attr_size += sizeof attr.handled_access_net;
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
    attr_size += sizeof attr.scoped;
  }
  UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0)));
  if (!ruleset.valid()) return Status::FromErrno(errno, "landlock_create_ruleset");

  landlock_path_beneath_attr beneath{};
  beneath.allowed_access = kSessionRights & attr.handled_access_fs;
  beneath.parent_fd = dir_fd;
  if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &beneath, 0) !=
      0) {
    return Status::FromErrno(errno, "landlock_add_rule");
  }
  // restrict_self needs no_new_privs from an unprivileged process; the privilege drop set it, and
  // a process that somehow lost it must not go on unfenced.
  if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 &&
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status::FromErrno(errno, "PR_SET_NO_NEW_PRIVS");
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) != 0) {
    return Status::FromErrno(errno, "landlock_restrict_self");
  }
  // Trust nothing: the folder's parent must now be out of reach. openat2 (without RESOLVE_BENEATH,
  // which would refuse `..` itself), as the worker's syscall filter kills openat.
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  UniqueFd parent(static_cast<int>(::syscall(SYS_openat2, dir_fd, "..", &how, sizeof how)));
  if (parent.valid() || errno != EACCES) {
    return Status::Denied("landlock_restrict_self did not fence the folder");
  }
  return Status::Ok();
}

}  // namespace backupd::worker
