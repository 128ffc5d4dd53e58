// shared (any privilege): closing for UniqueFd.
#include "base/unique_fd.h"

#include <unistd.h>

#include <cerrno>

namespace backupd {

void UniqueFd::reset(int fd) {
  // close() is not retried on EINTR: on Linux the descriptor is gone whatever it returns.
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

Status UniqueFd::Close(std::string_view what) {
  if (fd_ < 0) return Status::Ok();
  int rc = ::close(release());
  return rc == 0 || errno == EINTR ? Status::Ok() : Status::FromErrno(errno, what);
}

}  // namespace backupd
