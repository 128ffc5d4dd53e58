// shared (root in practice): write-to-temp-and-rename.
#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

namespace backupd {

Status WriteFileAtomically(const std::string& path, std::string_view text, mode_t mode) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return Status::FromErrno(errno, "cannot create " + tmp);
  Status s;
  if (::fchmod(fd.get(), mode) != 0) s = Status::FromErrno(errno, "cannot chmod " + tmp);
  size_t done = 0;
  while (s.ok() && done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno != EINTR) s = Status::FromErrno(errno, "cannot write " + tmp);
    } else {
      done += static_cast<size_t>(n);
    }
  }
  Status closed = fd.Close("cannot write " + tmp);
  if (s.ok()) s = closed;
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::FromErrno(errno, "cannot rename " + tmp + " to " + path);
  }
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

}  // namespace backupd
