// client (the user's privilege): a restore's temp file, committed by rename or removed.
#include "client/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "base/timespec.h"

namespace backupd::client {
namespace {

// The mode a plain open(O_CREAT, 0666) would give: umask can only be read by setting it.
mode_t CreationMode() {
  mode_t mask = umask(0);
  umask(mask);
  return static_cast<mode_t>(0666 & ~mask);
}

}  // namespace

Result<TempOutput> TempOutput::Create(const std::string& output) {
  size_t slash = output.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : output.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? output : output.substr(slash + 1);
  if (base.empty()) return Status::Invalid("output '" + output + "' names a folder");
  std::string tmp = dir + (slash == std::string::npos ? "/." : ".") + base + ".restore-XXXXXX";
  UniqueFd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "create a temp file beside " + output);
  return TempOutput(std::move(fd), std::move(tmp), output, dir);
}

TempOutput::TempOutput(UniqueFd fd, std::string tmp, std::string output, std::string dir)
    : fd_(std::move(fd)), tmp_(std::move(tmp)), output_(std::move(output)), dir_(std::move(dir)) {}

TempOutput::TempOutput(TempOutput&& other) noexcept
    : fd_(std::move(other.fd_)),
      tmp_(std::exchange(other.tmp_, "")),
      output_(std::move(other.output_)),
      dir_(std::move(other.dir_)) {}

TempOutput::~TempOutput() {
  if (!tmp_.empty()) unlink(tmp_.c_str());
}

// The folder is fsynced so the rename itself survives a crash.
Status TempOutput::Commit(Existing existing, const OutputAttributes& attributes) {
  const mode_t mode = attributes.mode != 0 ? attributes.mode : CreationMode();
  if (fchmod(fd_.get(), mode) < 0) return Status::FromErrno(errno, "chmod " + tmp_);
  if (attributes.mtime_ns) {
    // The access time is not kept: it becomes the restore's.
    const timespec times[2] = {{0, UTIME_NOW}, EpochNsToTimespec(*attributes.mtime_ns)};
    if (futimens(fd_.get(), times) < 0) return Status::FromErrno(errno, "set the time of " + tmp_);
  }
  if (fsync(fd_.get()) < 0) return Status::FromErrno(errno, "fsync " + tmp_);
  // RENAME_NOREPLACE: a file created at `output` while the payload arrived is kept, atomically.
  const unsigned flags = existing == Existing::kKeep ? RENAME_NOREPLACE : 0;
  if (renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, output_.c_str(), flags) < 0) {
    if (errno == EEXIST) return Status::FromErrno(errno, "keep " + output_ + ", created meanwhile");
    return Status::FromErrno(errno, "rename to " + output_);
  }
  tmp_.clear();
  UniqueFd dir_fd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return Status::FromErrno(errno, "open folder " + dir_);
  if (fsync(dir_fd.get()) < 0 && errno != EINVAL) {
    return Status::FromErrno(errno, "fsync folder " + dir_);
  }
  return Status::Ok();
}

Status WriteAllToFd(int fd, const uint8_t* p, size_t len, const std::string& what) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace backupd::client
