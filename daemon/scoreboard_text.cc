// supervisor (root): renders the scoreboard as the text table `backupd status` prints.
#include "daemon/scoreboard_text.h"

#include "base/text.h"

#include <time.h>

#include <cinttypes>
#include <cstdio>

namespace backupd::daemon {

namespace {

using std::chrono::seconds;

uint64_t SecondsBetween(std::chrono::steady_clock::time_point from,
                        std::chrono::steady_clock::time_point to) {
  // A slot stamped after `now` was taken (the caller read the clock first) must not underflow.
  if (to <= from) return 0;
  return static_cast<uint64_t>(std::chrono::duration_cast<seconds>(to - from).count());
}

std::string FormatUtc(std::chrono::system_clock::time_point t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm {};
  if (::gmtime_r(&secs, &tm) == nullptr) return "?";
  char buf[32];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buf, n);
}

std::string FormatUptime(uint64_t secs) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
                secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
  return buf;
}

const char* RowState(const WorkerSlot& w) {
  if (!w.stopping) return StateName(w.state);
  return w.state == ipc::WorkerState::kBusy ? "finishing" : "stopping";
}

}  // namespace

std::string RenderScoreboard(const Scoreboard& board, std::chrono::steady_clock::time_point now) {
  WorkerCounts n = CountWorkers(board);
  uint64_t requests = 0;
  for (const auto& [key, count] : board.counters.requests) requests += count;

  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "backupd status\n"
                "Supervisor PID: %ld\n"
                "Started at:     %s\n"
                "Uptime:         %s\n"
                "Generation:     %" PRIu32
                "\n"
                "Workers:        %zu (%zu idle, %zu busy, %zu starting; %zu stopping)\n",
                static_cast<long>(board.supervisor_pid), FormatUtc(board.started_at).c_str(),
                FormatUptime(SecondsBetween(board.started, now)).c_str(), board.generation,
                board.workers.size(), n.idle, n.busy, n.starting, n.stopping);
  out += line;
  std::snprintf(line, sizeof line,
                "Requests:       %" PRIu64
                "\n"
                "Bytes:          %" PRIu64 " in, %" PRIu64 " out\n\n",
                requests, board.counters.bytes_in, board.counters.bytes_out);
  out += line;
  std::snprintf(line, sizeof line, "%7s %4s %-9s %6s %8s %12s %12s %10s %-7s %s\n", "PID", "GEN",
                "STATE", "FOR", "REQS", "IN", "OUT", "USER", "OP", "PEER");
  out += line;
  // std::map keeps the rows in pid order.
  for (const auto& [pid, w] : board.workers) {
    // No user or op until the worker has decoded a request header.
    std::string user = w.op == 0 ? "-" : std::to_string(w.user_id);
    const char* op = w.op == 0 ? "-" : OpName(w.op);
    std::snprintf(
        line, sizeof line,
        "%7ld %4" PRIu32 " %-9s %6" PRIu64 " %8" PRIu64 " %12" PRIu64 " %12" PRIu64 " %10s %-7s ",
        static_cast<long>(pid), w.generation, RowState(w), SecondsBetween(w.state_since, now),
        w.requests, w.bytes_in, w.bytes_out, user.c_str(), op);
    out += line;
    out += w.peer.empty() ? "-" : EscapeUntrusted(w.peer);
    out += '\n';
  }
  return out;
}

}  // namespace backupd::daemon
