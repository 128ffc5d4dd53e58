// worker (unprivileged): the worker's side of the report pipe — state changes, access records,
// logs.
#ifndef BACKUPD_WORKER_REPORTER_H_
#define BACKUPD_WORKER_REPORTER_H_

#include <cstdint>
#include <string_view>

#include "ipc/report.h"

namespace backupd::worker {

// Sends reports to the supervisor. Reports are best-effort gossip: a send that finds the pipe full
// is dropped so a stuck supervisor can never stall a request, and the next send that fits is
// preceded by a warning counting what was lost, so an access log with gaps says so.
class Reporter {
 public:
  Reporter(int fd, uint32_t generation) : fd_(fd), generation_(generation) {}

  void State(ipc::WorkerState state, std::string_view peer = {});
  void Request(const ipc::Report& record);  // fills magic/type/generation
  void Log(ipc::Severity severity, std::string_view text);
  // A client cut off for being too slow (header_timeout, min_rate, request_timeout).
  void Stalled(std::string_view peer, std::string_view what);

 private:
  void Send(const ipc::Report& report);

  int fd_;
  uint32_t generation_;
  uint64_t lost_ = 0;
};

}  // namespace backupd::worker

#endif  // BACKUPD_WORKER_REPORTER_H_
