// worker (unprivileged): sending reports to the supervisor.
#include "worker/reporter.h"

namespace backupd::worker {

void Reporter::State(ipc::WorkerState state, std::string_view peer) {
  ipc::Report r = ipc::StateReport(generation_, state);
  ipc::SetField(r.peer, peer);
  (void)ipc::Send(fd_, r);
}

void Reporter::Request(const ipc::Report& record) {
  ipc::Report r = record;
  r.magic = ipc::kReportMagic;
  r.type = static_cast<uint8_t>(ipc::ReportType::kRequest);
  r.generation = generation_;
  (void)ipc::Send(fd_, r);
}

void Reporter::Log(ipc::Severity severity, std::string_view text) {
  (void)ipc::Send(fd_, ipc::LogReport(generation_, severity, text));
}

void Reporter::Stalled(std::string_view peer, std::string_view what) {
  (void)ipc::Send(fd_, ipc::StalledReport(generation_, peer, what));
}

}  // namespace backupd::worker
