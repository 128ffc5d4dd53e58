// shared (any privilege): errno to Status conversion.
#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace backupd {

Status Status::FromErrno(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status(Code::kNotFound, std::move(msg));
    case ENOSPC:
    case EDQUOT:
      return Status(Code::kNoSpace, std::move(msg));
    case EACCES:
    case EPERM:
    case EXDEV:  // openat2 RESOLVE_BENEATH refusing an escape
    case ELOOP:  // openat2 RESOLVE_NO_SYMLINKS refusing a link
      return Status(Code::kDenied, std::move(msg));
    case EFBIG:
      return Status(Code::kTooLarge, std::move(msg));
    case ETIMEDOUT:
    case EAGAIN:
      return Status(Code::kTimeout, std::move(msg));
    case EPIPE:
    case ECONNRESET:
      return Status(Code::kClosed, std::move(msg));
    case EINVAL:
    case ENAMETOOLONG:
      return Status(Code::kInvalid, std::move(msg));
    default:
      return Status(Code::kIoError, std::move(msg));
  }
}

}  // namespace backupd
