// worker (unprivileged): the file-system calls storage makes, behind an interface so tests can
// inject the failures a real disk rarely gives on demand (EIO, ENOSPC).
#ifndef BACKUPD_WORKER_SYS_H_
#define BACKUPD_WORKER_SYS_H_

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace backupd::worker {

// Thin virtual wrappers: each returns what the syscall returns and leaves errno set on failure.
// RealSys() forwards to the kernel; tests derive a GoogleMock from this class.
class Sys {
 public:
  virtual ~Sys() = default;
  // openat2(dirfd, path, {flags, mode, resolve}); resolve is RESOLVE_* bits.
  virtual int OpenAt2(int dirfd, const char* path, uint64_t flags, uint64_t mode,
                      uint64_t resolve) = 0;
  virtual int MkdirAt(int dirfd, const char* path, mode_t mode) = 0;
  virtual int UnlinkAt(int dirfd, const char* path, int flags) = 0;
  virtual int RenameAt(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) = 0;
  // linkat(olddirfd, oldpath, newdirfd, newpath, 0): the version store keeps an inode under a
  // second name instead of copying it.
  virtual int LinkAt(int olddirfd, const char* oldpath, int newdirfd, const char* newpath) = 0;
  virtual int FstatAt(int dirfd, const char* path, struct stat* st, int flags) = 0;
  virtual ssize_t Read(int fd, void* buf, size_t len) = 0;
  virtual ssize_t Write(int fd, const void* buf, size_t len) = 0;
  virtual int Fsync(int fd) = 0;
  // sync_file_range(2): with SYNC_FILE_RANGE_WRITE it starts a range's writeback and returns.
  virtual int SyncFileRange(int fd, off_t offset, off_t len, unsigned int flags) = 0;
  virtual int Syncfs(int fd) = 0;
  virtual int Fstatfs(int fd, struct statfs* st) = 0;
  // futimens(2): a stored file's mtime as the client had it (issue 12).
  virtual int Futimens(int fd, const struct timespec times[2]) = 0;
  // fsetxattr(2) and fgetxattr(2): a stored file's digest kept on its inode (docs/STORAGE.md).
  virtual int FSetXattr(int fd, const char* name, const void* value, size_t size, int flags) = 0;
  virtual ssize_t FGetXattr(int fd, const char* name, void* value, size_t size) = 0;
  // getrandom(2): the kernel's CSPRNG without a /dev/urandom (absent inside the chroot).
  virtual ssize_t GetRandom(void* buf, size_t len, unsigned int flags) = 0;
};

// The process-wide real implementation.
Sys& RealSys();

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_SYS_H_
