// supervisor (root): an append-only file stream over a UniqueFd, for the log file.
#include "daemon/log_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <streambuf>
#include <utility>

#include "base/unique_fd.h"

namespace backupd::daemon {

namespace {

class FdBuf : public std::streambuf {
 public:
  explicit FdBuf(UniqueFd fd) : fd_(std::move(fd)) { setp(buf_, buf_ + sizeof buf_); }
  ~FdBuf() override { Drain(); }

 protected:
  int_type overflow(int_type ch) override {
    if (!Drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return Drain() ? 0 : -1; }

 private:
  // Writes out the buffer; what cannot be written is dropped, since a log must not block or grow.
  bool Drain() {
    const char* p = pbase();
    auto left = static_cast<size_t>(pptr() - pbase());
    bool ok = true;
    while (left > 0) {
      ssize_t n = ::write(fd_.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    setp(buf_, buf_ + sizeof buf_);
    return ok;
  }

  UniqueFd fd_;
  char buf_[8192];
};

class FdStream : public std::ostream {
 public:
  explicit FdStream(UniqueFd fd) : std::ostream(nullptr), buf_(std::move(fd)) { rdbuf(&buf_); }

 private:
  FdBuf buf_;
};

}  // namespace

Result<std::unique_ptr<std::ostream>> OpenLogFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666));
  if (!fd.valid()) return Status::FromErrno(errno, "cannot open log file " + path);
  return std::unique_ptr<std::ostream>(std::make_unique<FdStream>(std::move(fd)));
}

}  // namespace backupd::daemon
