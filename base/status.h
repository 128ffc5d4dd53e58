// shared (any privilege): Status and Result<T>, the error values that cross every module boundary.
#ifndef BACKUPD_BASE_STATUS_H_
#define BACKUPD_BASE_STATUS_H_

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace backupd {

// A Status is OK or carries a code and a human-readable message. Functions that can fail return
// one (or a Result<T>) instead of throwing; errno becomes a Status only in Status::FromErrno.
class Status {
 public:
  enum class Code {
    kOk,
    kNotFound,  // the named thing does not exist
    kInvalid,   // malformed input: bad name, bad field, bad config value
    kTooLarge,  // a size over a configured or protocol limit
    kIoError,   // an I/O error the caller cannot fix (EIO, ...)
    kNoSpace,   // ENOSPC / EDQUOT
    kDenied,    // EACCES / EPERM / a confinement rule refused it
    kTimeout,   // a deadline passed
    kClosed,    // the peer closed the connection
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Invalid(std::string msg) { return Status(Code::kInvalid, std::move(msg)); }
  static Status TooLarge(std::string msg) { return Status(Code::kTooLarge, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status Denied(std::string msg) { return Status(Code::kDenied, std::move(msg)); }
  static Status Timeout(std::string msg) { return Status(Code::kTimeout, std::move(msg)); }
  static Status Closed(std::string msg) { return Status(Code::kClosed, std::move(msg)); }
  // The one place an errno value is turned into a Status: "what: strerror(err)".
  static Status FromErrno(int err, std::string_view what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OK" or the message; for logs and error output.
  std::string ToString() const { return ok() ? "OK" : message_; }

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  // The error, or OK when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace backupd

#endif  // BACKUPD_BASE_STATUS_H_
