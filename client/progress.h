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

}  // namespace backupd::client

#endif  // BACKUPD_CLIENT_PROGRESS_H_
