// worker (unprivileged): sending reports to the supervisor.
#include "worker/reporter.h"

#include <string>

namespace backupd::worker {

void Reporter::Send(const ipc::Report& report) {
  if (lost_ > 0) {
    const std::string warning = std::to_string(lost_) +
                                " reports (access records among them) lost: the supervisor did "
                                "not read this worker's report pipe in time";
    if (!ipc::Send(fd_, ipc::LogReport(generation_, ipc::Severity::kWarning, warning)).ok()) {
      ++lost_;
      return;
    }
    lost_ = 0;
  }
  if (!ipc::Send(fd_, report).ok()) ++lost_;
}

void Reporter::State(ipc::WorkerState state, std::string_view peer) {
  ipc::Report r = ipc::StateReport(generation_, state);
  ipc::SetField(r.peer, peer);
  Send(r);
}

void Reporter::Request(const ipc::Report& record) {
  ipc::Report r = record;
  r.magic = ipc::kReportMagic;
  r.type = static_cast<uint8_t>(ipc::ReportType::kRequest);
  r.generation = generation_;
  Send(r);
}

void Reporter::Log(ipc::Severity severity, std::string_view text) {
  Send(ipc::LogReport(generation_, severity, text));
}

void Reporter::Stalled(std::string_view peer, std::string_view what) {
  Send(ipc::StalledReport(generation_, peer, what));
}

}  // namespace backupd::worker
