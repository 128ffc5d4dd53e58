// shared (any privilege): closing for UniqueFd, and closing all but some descriptors.
#include "base/unique_fd.h"

#include <unistd.h>

#include <algorithm>
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

Status CloseAllBut(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned first = 0;
  for (int fd : keep) {
    const auto kept = static_cast<unsigned>(fd);
    if (kept > first && ::close_range(first, kept - 1, 0) != 0) {
      return Status::FromErrno(errno, "close_range");
    }
    first = std::max(first, kept + 1);
  }
  if (::close_range(first, ~0U, 0) != 0) return Status::FromErrno(errno, "close_range");
  return Status::Ok();
}

}  // namespace backupd
