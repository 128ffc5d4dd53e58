// client (the user's privilege): drawing the progress bar.
#include "client/progress.h"

#include <algorithm>
#include <cinttypes>

namespace backupd::client {

std::string FormatProgress(std::string_view label, uint64_t done, uint64_t total, size_t width) {
  done = std::min(done, total);
  // Integer arithmetic: exact at both ends, so 100% appears only when everything has moved.
  const uint64_t percent = total == 0 ? 100 : done * 100 / total;
  const size_t filled = total == 0 ? width : static_cast<size_t>(done * width / total);
  constexpr double kMiB = 1024.0 * 1024.0;
  char numbers[64];
  std::snprintf(numbers, sizeof(numbers), " %3" PRIu64 "%%  %.1f/%.1f MiB", percent,
                static_cast<double>(done) / kMiB, static_cast<double>(total) / kMiB);
  std::string line(label);
  line += " [";
  line.append(filled, '#');
  line.append(width - filled, '-');
  line += "]";
  line += numbers;
  return line;
}

void ProgressBar::Update(uint64_t done, uint64_t total) {
  if (!enabled_ || total <= kProgressMinBytes) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  std::fprintf(out_, "\r%s", FormatProgress(label_, done, total, 30).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!drawn_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  drawn_ = false;
}

std::string FormatRunProgress(uint64_t files, uint64_t files_total, uint64_t bytes,
                              uint64_t bytes_total, double seconds) {
  constexpr double kMiB = 1024.0 * 1024.0;
  const double rate = seconds > 0 ? static_cast<double>(bytes) / seconds : 0;
  char eta[32] = "-";
  if (rate > 0) {
    const auto left = static_cast<uint64_t>(
        static_cast<double>(bytes_total - std::min(bytes, bytes_total)) / rate);
    std::snprintf(eta, sizeof(eta), "%" PRIu64 ":%02" PRIu64, left / 60, left % 60);
  }
  char line[160];
  std::snprintf(line, sizeof(line),
                "%" PRIu64 "/%" PRIu64 " files  %.1f/%.1f MiB  %.1f MiB/s  ETA %s", files,
                files_total, static_cast<double>(bytes) / kMiB,
                static_cast<double>(bytes_total) / kMiB, rate / kMiB, eta);
  return line;
}

void RunProgress::Update(uint64_t files, uint64_t files_total, uint64_t bytes,
                         uint64_t bytes_total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  // Trailing spaces wipe what a longer previous line left.
  std::fprintf(out_, "\r%s   ",
               FormatRunProgress(files, files_total, bytes, bytes_total, seconds).c_str());
  std::fflush(out_);
  drawn_ = true;
}

void RunProgress::Finish() {
  if (!drawn_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace backupd::client
