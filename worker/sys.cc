// worker (unprivileged): the real file-system calls behind Sys; the only place storage code
// enters the kernel for them.
#include "worker/sys.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace backupd::worker {
namespace {

class KernelSys final : public Sys {
 public:
  int OpenAt2(int dirfd, const char* path, uint64_t flags, uint64_t mode,
              uint64_t resolve) override {
    struct open_how how {};
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    // With RESOLVE_BENEATH the kernel answers EAGAIN when a rename raced the walk; it is safe to
    // retry a few times, but not forever (someone could rename in a loop).
    constexpr int kAttempts = 8;
    long fd = -1;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
      if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
    }
    return static_cast<int>(fd);
  }
  int MkdirAt(int dirfd, const char* path, mode_t mode) override {
    return mkdirat(dirfd, path, mode);
  }
  int UnlinkAt(int dirfd, const char* path, int flags) override {
    return unlinkat(dirfd, path, flags);
  }
  int RenameAt(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) override {
    return renameat(olddirfd, oldpath, newdirfd, newpath);
  }
  int LinkAt(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) override {
    return linkat(olddirfd, oldpath, newdirfd, newpath, 0);
  }
  int FstatAt(int dirfd, const char* path, struct stat* st, int flags) override {
    return fstatat(dirfd, path, st, flags);
  }
  ssize_t Read(int fd, void* buf, size_t len) override { return read(fd, buf, len); }
  ssize_t Write(int fd, const void* buf, size_t len) override { return write(fd, buf, len); }
  int Fsync(int fd) override { return fsync(fd); }
  int SyncFileRange(int fd, off_t offset, off_t len, unsigned int flags) override {
    return sync_file_range(fd, offset, len, flags);
  }
  int Syncfs(int fd) override { return syncfs(fd); }
  int Fstatfs(int fd, struct statfs* st) override { return fstatfs(fd, st); }
  int Futimens(int fd, const struct timespec times[2]) override { return futimens(fd, times); }
  int FSetXattr(int fd, const char* name, const void* value, size_t size, int flags) override {
    return fsetxattr(fd, name, value, size, flags);
  }
  ssize_t FGetXattr(int fd, const char* name, void* value, size_t size) override {
    return fgetxattr(fd, name, value, size);
  }
  ssize_t GetRandom(void* buf, size_t len, unsigned int flags) override {
    return getrandom(buf, len, flags);
  }
};

}  // namespace

Sys& RealSys() {
  static KernelSys* sys = new KernelSys();  // never destroyed: workers may use it until _exit
  return *sys;
}

}  // namespace backupd::worker
