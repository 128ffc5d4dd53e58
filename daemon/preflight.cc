// supervisor (root): user/group lookup and storage folder creation and checks.
#include "daemon/preflight.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/unique_fd.h"

namespace backupd::daemon {

namespace {

// A storage folder that does not exist yet will be created, but not its parents.
Status CheckParentExists(const std::string& storage) {
  size_t slash = storage.rfind('/');
  std::string parent = slash == 0 ? "/" : storage.substr(0, slash);
  std::string what = "storage " + storage + ": parent folder " + parent;
  struct stat st {};
  if (::stat(parent.c_str(), &st) != 0) {
    if (errno != ENOENT && errno != ENOTDIR) return Status::FromErrno(errno, what);
    return Status::NotFound(what + " does not exist; create it or fix 'storage'");
  }
  if (!S_ISDIR(st.st_mode)) return Status::Invalid(what + " is not a folder; fix 'storage'");
  return Status::Ok();
}

}  // namespace

Result<worker::Identity> ResolveIdentity(const conf::Config& config) {
  worker::Identity id;
  if (::geteuid() != 0) {
    id.drop = false;
    id.uid = ::getuid();
    id.gid = ::getgid();
    return id;
  }
  errno = 0;
  const passwd* pw = ::getpwnam(config.user.c_str());
  if (pw == nullptr) return Status::Invalid("user '" + config.user + "' does not exist");
  errno = 0;
  const group* gr = ::getgrnam(config.group.c_str());
  if (gr == nullptr) return Status::Invalid("group '" + config.group + "' does not exist");
  if (pw->pw_uid == 0 || gr->gr_gid == 0) {
    return Status::Invalid("workers must not run as root: user '" + config.user + "', group '" +
                           config.group + "'");
  }
  id.uid = pw->pw_uid;
  id.gid = gr->gr_gid;
  return id;
}

Result<gid_t> ResolveStatusGroup(const conf::Config& config) {
  if (config.status_group.empty()) return static_cast<gid_t>(-1);
  const group* gr = ::getgrnam(config.status_group.c_str());
  if (gr == nullptr)
    return Status::Invalid("status_group '" + config.status_group + "' does not exist");
  return gr->gr_gid;
}

Status CheckStorage(const conf::Config& config, const worker::Identity& id) {
  struct stat st {};
  if (::lstat(config.storage.c_str(), &st) != 0) {
    if (errno == ENOENT) return CheckParentExists(config.storage);
    return Status::FromErrno(errno, "storage " + config.storage);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::Invalid("storage " + config.storage + " is not a directory (or is a symlink)");
  }
  if (st.st_uid != id.uid) {
    return Status::Denied("storage " + config.storage + " is owned by uid " +
                          std::to_string(st.st_uid) + ", not by the worker user (uid " +
                          std::to_string(id.uid) + "); chown it or pick another folder");
  }
  return Status::Ok();
}

Status CheckOpenat2() {
  // The flags UserDir resolves with, so a kernel that has openat2 but not one of them (EINVAL)
  // is refused too.
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return Status::FromErrno(errno, "/");
  long fd = ::syscall(SYS_openat2, root.get(), ".", &how, sizeof how);
  int err = errno;
#ifdef BACKUPD_TEST_HOOKS
  if (std::getenv(kNoOpenat2HookEnv) != nullptr) {
    if (fd >= 0) ::close(static_cast<int>(fd));
    fd = -1;
    err = ENOSYS;
  }
#endif
  if (fd >= 0) {
    UniqueFd probe(static_cast<int>(fd));
    return Status::Ok();
  }
  const std::string why = err == ENOSYS ? "this kernel has no openat2 system call"
                                        : std::string("openat2 fails: ") + std::strerror(err);
  return Status::Invalid(why +
                         "; backupd confines every file access with openat2 and needs Linux "
                         ">= 5.6 (and a sandbox that allows openat2)");
}

Status PrepareStorage(const conf::Config& config, const worker::Identity& id) {
  const std::string& path = config.storage;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return Status::FromErrno(errno, "storage " + path);
    Status parent = CheckParentExists(path);
    if (!parent.ok()) return parent;
    if (::mkdir(path.c_str(), 0700) != 0) return Status::FromErrno(errno, "cannot create " + path);
    if (id.drop && ::chown(path.c_str(), id.uid, id.gid) != 0) {
      return Status::FromErrno(errno, "cannot chown " + path);
    }
  }
  return CheckStorage(config, id);
}

}  // namespace backupd::daemon
