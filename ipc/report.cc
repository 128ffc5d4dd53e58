// worker (unprivileged) and supervisor (root): writing, reading and checking worker reports.
#include "ipc/report.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace backupd::ipc {

namespace {

template <size_t N>
bool Terminated(const char (&field)[N]) {
  return std::memchr(field, '\0', N) != nullptr;
}

}  // namespace

Status Send(int fd, const Report& report) {
  for (;;) {
    ssize_t n = ::write(fd, &report, sizeof report);
    if (n == static_cast<ssize_t>(sizeof report)) return Status::Ok();
    if (n >= 0) return Status::IoError("short write of a report");
    if (errno == EINTR) continue;
    return Status::FromErrno(errno, "report pipe");
  }
}

Status Validate(const Report& r) {
  if (r.magic != kReportMagic) return Status::Invalid("bad magic");
  switch (static_cast<ReportType>(r.type)) {
    case ReportType::kState:
      if (r.state > static_cast<uint8_t>(WorkerState::kBusy)) return Status::Invalid("bad state");
      break;
    case ReportType::kRequest:
    case ReportType::kStalled:
      break;
    case ReportType::kLog:
      if (r.severity > static_cast<uint8_t>(Severity::kError)) {
        return Status::Invalid("bad severity");
      }
      break;
    default:
      return Status::Invalid("unknown report type");
  }
  if (!Terminated(r.peer) || !Terminated(r.text) || !Terminated(r.detail))
    return Status::Invalid("unterminated string");
  return Status::Ok();
}

Status ReadAvailable(int fd, std::vector<Report>* out) {
  // Reports are written whole and atomically, so a read of a multiple of their size returns
  // whole reports; a remainder means the writer broke the protocol.
  Report buf[kMaxReportsPerTurn];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return Status::Closed("worker closed its report pipe");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Status::Ok();
      return Status::FromErrno(errno, "report pipe");
    }
    size_t whole = static_cast<size_t>(n) / sizeof(Report);
    out->insert(out->end(), buf, buf + whole);
    if (static_cast<size_t>(n) % sizeof(Report) != 0) return Status::Invalid("torn report");
    return Status::Ok();
  }
}

Report StateReport(uint32_t generation, WorkerState state) {
  Report r;
  r.generation = generation;
  r.type = static_cast<uint8_t>(ReportType::kState);
  r.state = static_cast<uint8_t>(state);
  return r;
}

Report LogReport(uint32_t generation, Severity severity, std::string_view text) {
  Report r;
  r.generation = generation;
  r.type = static_cast<uint8_t>(ReportType::kLog);
  r.severity = static_cast<uint8_t>(severity);
  SetField(r.text, text);
  return r;
}

Report StalledReport(uint32_t generation, std::string_view peer, std::string_view what) {
  Report r;
  r.generation = generation;
  r.type = static_cast<uint8_t>(ReportType::kStalled);
  SetField(r.peer, peer);
  SetField(r.text, what);
  return r;
}

}  // namespace backupd::ipc
