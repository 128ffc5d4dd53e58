// tests (unprivileged): fuzz target for the worker report decoder; the input is what a
// (compromised) worker wrote into its report pipe, read back with ReadAvailable and checked with
// Validate as the supervisor does, each accepted report escaped as the access log escapes it.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/text.h"
#include "base/unique_fd.h"
#include "ipc/report.h"
#include "tests/fuzz/fuzz_check.h"

namespace ipc = backupd::ipc;
using backupd::Status;

namespace {

// A pipe holds 64 KiB: more could not be written before the supervisor reads.
constexpr size_t kPipeCapacity = 65536;

template <size_t N>
void CheckLogSafe(const char (&field)[N]) {
  FUZZ_CHECK(std::memchr(field, '\0', N) != nullptr);
  const std::string escaped = backupd::EscapeUntrusted(field);
  for (char c : escaped) FUZZ_CHECK(c >= 0x20 && c < 0x7F);
  FUZZ_CHECK(escaped.find('"') == std::string::npos);
}

void CheckReport(const ipc::Report& r) {
  const Status valid = ipc::Validate(r);
  if (!valid.ok()) {
    FUZZ_CHECK(valid.code() == Status::Code::kInvalid);
    return;
  }
  FUZZ_CHECK(r.magic == ipc::kReportMagic);
  switch (static_cast<ipc::ReportType>(r.type)) {
    case ipc::ReportType::kState:
      FUZZ_CHECK(r.state <= static_cast<uint8_t>(ipc::WorkerState::kBusy));
      break;
    case ipc::ReportType::kRequest:
    case ipc::ReportType::kStalled:
      break;
    case ipc::ReportType::kLog:
      FUZZ_CHECK(r.severity <= static_cast<uint8_t>(ipc::Severity::kError));
      break;
    default:
      FUZZ_CHECK(false);  // Validate accepted a type it does not know
  }
  CheckLogSafe(r.peer);
  CheckLogSafe(r.text);
  CheckLogSafe(r.detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kPipeCapacity) return 0;
  int ends[2];
  FUZZ_CHECK(pipe2(ends, O_CLOEXEC | O_NONBLOCK) == 0);
  backupd::UniqueFd read_end(ends[0]);
  {
    backupd::UniqueFd write_end(ends[1]);
    FUZZ_CHECK(size == 0 || write(write_end.get(), data, size) == static_cast<ssize_t>(size));
  }

  // Turn by turn, at most kMaxReportsPerTurn each, every whole report is delivered, in order; a
  // torn tail is refused, never half-read.
  std::vector<ipc::Report> reports;
  Status read;
  do {
    const size_t before = reports.size();
    read = ipc::ReadAvailable(read_end.get(), &reports);
    FUZZ_CHECK(reports.size() - before <= ipc::kMaxReportsPerTurn);
  } while (read.ok());
  FUZZ_CHECK(reports.size() == size / sizeof(ipc::Report));
  const bool torn = size % sizeof(ipc::Report) != 0;
  FUZZ_CHECK(read.code() == (torn ? Status::Code::kInvalid : Status::Code::kClosed));
  for (size_t i = 0; i < reports.size(); ++i) {
    FUZZ_CHECK(std::memcmp(&reports[i], data + i * sizeof(ipc::Report), sizeof(ipc::Report)) == 0);
    CheckReport(reports[i]);
  }
  return 0;
}
