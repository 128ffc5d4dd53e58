// shared (any privilege): UniqueFd, the one owner of a file descriptor in backupd.
#ifndef BACKUPD_BASE_UNIQUE_FD_H_
#define BACKUPD_BASE_UNIQUE_FD_H_

#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace backupd {

// Owns one descriptor and closes it when destroyed, so no path forgets a close and no fd is
// closed twice. Move-only: ownership is handed on explicitly, with std::move or release().
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives the descriptor up without closing it; this object is then empty.
  int release() { return std::exchange(fd_, -1); }
  // Closes the held descriptor (if any) and takes `fd`.
  void reset(int fd = -1);
  // Closes now and reports close()'s error, which for a written file may be the first sign that
  // the data did not reach the disk (NFS, quota). "what: strerror" on failure.
  Status Close(std::string_view what);

 private:
  int fd_ = -1;
};

// Closes every descriptor of this process but those in `keep` (any order, duplicates allowed;
// 0, 1 and 2 are closed too unless kept), with close_range: for a forked child, whose copies of
// its parent's owners are never destroyed, to hold exactly what it was handed.
Status CloseAllBut(std::vector<int> keep);

}  // namespace backupd

#endif  // BACKUPD_BASE_UNIQUE_FD_H_
