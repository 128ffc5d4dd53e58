// client (the user's privilege): the progress bar backup-client draws on a terminal.
#ifndef BACKUPD_CLIENT_PROGRESS_H_
#define BACKUPD_CLIENT_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace backupd::client {

// Called as payload bytes move: (bytes so far, total).
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

// Files up to this size move too fast for a bar to be worth drawing.
inline constexpr uint64_t kProgressMinBytes = 1024 * 1024;

// One line of the bar, `width` cells wide between the brackets:
// "LABEL [#########-----------]  45%  12.3/27.0 MiB". A zero total counts as complete.
std::string FormatProgress(std::string_view label, uint64_t done, uint64_t total, size_t width);

// Redraws the bar in place on `out` (with '\r'), at most every 100 ms and once at completion,
// only when enabled and the total is over kProgressMinBytes. Finish() ends the line if anything
// was drawn, so later messages start on a fresh line.
class ProgressBar {
 public:
  ProgressBar(std::string label, bool enabled, std::FILE* out = stderr)
      : label_(std::move(label)), enabled_(enabled), out_(out) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { Finish(); }

  void Update(uint64_t done, uint64_t total);
  void Finish();

 private:
  std::string label_;
  bool enabled_;
  std::FILE* out_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// A run's progress line: "12/100 files  3.4/10.0 MiB  1.2 MiB/s  ETA 0:05" after `seconds`; the
// rate is bytes over seconds, the ETA what is left at that rate ("ETA -" before any byte moved).
std::string FormatRunProgress(uint64_t files, uint64_t files_total, uint64_t bytes,
                              uint64_t bytes_total, double seconds);

// Redraws a run's progress line in place on `out` (with '\r'), at most every 100 ms, only when
// enabled; Finish() ends the line if anything was drawn.
class RunProgress {
 public:
  explicit RunProgress(bool enabled, std::FILE* out = stderr)
      : enabled_(enabled), out_(out), start_(std::chrono::steady_clock::now()) {}
  RunProgress(const RunProgress&) = delete;
  RunProgress& operator=(const RunProgress&) = delete;
  ~RunProgress() { Finish(); }

  void Update(uint64_t files, uint64_t files_total, uint64_t bytes, uint64_t bytes_total);
  void Finish();

 private:
  bool enabled_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_PROGRESS_H_
