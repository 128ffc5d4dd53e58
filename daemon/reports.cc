// supervisor (root): reading workers' reports from their pipes — scoreboard updates, the access
// log, workers' log lines. Every report is untrusted gossip: validated, escaped, never obeyed.
#include "daemon/reports.h"

#include <sstream>

#include "base/text.h"
#include "daemon/log.h"
#include "daemon/supervisor.h"

namespace backupd::daemon {

conf::LogLevel ToLogLevel(ipc::Severity severity) {
  switch (severity) {
    case ipc::Severity::kDebug:
      return conf::LogLevel::kDebug;
    case ipc::Severity::kInfo:
      return conf::LogLevel::kInfo;
    case ipc::Severity::kWarning:
      return conf::LogLevel::kWarning;
    case ipc::Severity::kError:
      return conf::LogLevel::kError;
  }
  return conf::LogLevel::kError;  // unreachable: ipc::Validate refuses other values
}

std::string AccessLine(const ipc::Report& r, pid_t pid) {
  std::ostringstream line;
  line << "access " << EscapeUntrusted(r.peer) << " user=" << r.user_id << " op=" << OpName(r.op)
       << " name=\"" << EscapeUntrusted(r.text) << "\" status=" << r.status << " in=" << r.bytes_in
       << " out=" << r.bytes_out << " us=" << r.micros << " pid=" << pid;
  if (r.detail[0] != '\0') line << " error=\"" << EscapeUntrusted(r.detail) << "\"";
  return line.str();
}

void Supervisor::HandleReport(WorkerSlot& w, const ipc::Report& r) {
  Status valid = ipc::Validate(r);
  if (!valid.ok() || r.generation != w.generation) {
    BACKUPD_LOG(kWarning) << "worker " << w.pid << " sent a bad report ("
                          << (valid.ok() ? "wrong generation" : valid.message()) << "), ignored";
    return;
  }
  switch (static_cast<ipc::ReportType>(r.type)) {
    case ipc::ReportType::kState:
      w.state = static_cast<ipc::WorkerState>(r.state);
      w.state_since = Clock::now();
      w.peer = w.state == ipc::WorkerState::kBusy ? r.peer : "";
      if (w.state == ipc::WorkerState::kIdle && throttle_delay_.count() != 0) {
        // A worker that got as far as serving proves the set-up works: lift the throttle.
        throttle_delay_ = std::chrono::milliseconds(0);
        BACKUPD_LOG(kInfo) << "worker " << w.pid << " started fine; throttle lifted";
      }
      break;
    case ipc::ReportType::kRequest: {
      ++w.requests;
      w.bytes_in += r.bytes_in;
      w.bytes_out += r.bytes_out;
      w.user_id = r.user_id;
      w.op = r.op;
      Counters& c = board_.counters;
      ++c.requests[{OpName(r.op), r.status}];
      c.bytes_in += r.bytes_in;
      c.bytes_out += r.bytes_out;
      BACKUPD_LOG(kInfo) << AccessLine(r, w.pid);
      break;
    }
    case ipc::ReportType::kStalled:
      ++board_.counters.stalled;
      BACKUPD_LOG(kWarning) << "worker " << w.pid << ": cut off " << EscapeUntrusted(r.peer) << ": "
                            << EscapeUntrusted(r.text);
      break;
    case ipc::ReportType::kLog:
      BOOST_LOG_SEV(GlobalLogger(), ToLogLevel(static_cast<ipc::Severity>(r.severity)))
          << "worker " << w.pid << ": " << EscapeUntrusted(r.text);
      break;
  }
}

bool Supervisor::ReadReports(WorkerSlot& w) {
  if (!w.report_fd.valid()) return false;
  std::vector<ipc::Report> reports;
  Status s = ipc::ReadAvailable(w.report_fd.get(), &reports);
  for (const ipc::Report& r : reports) HandleReport(w, r);
  if (s.code() == Status::Code::kInvalid) {
    BACKUPD_LOG(kWarning) << "worker " << w.pid << " sent a torn report";
  }
  if (s.code() == Status::Code::kClosed) w.report_fd.reset();
  return s.ok() && reports.size() == ipc::kMaxReportsPerTurn;
}

}  // namespace backupd::daemon
