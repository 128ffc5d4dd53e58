// supervisor (root): renders the scoreboard as Prometheus text-format metrics.
#include "daemon/metrics.h"

#include <unistd.h>

#include <cerrno>

namespace backupd::daemon {

namespace {

void Family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, const char* name, uint64_t value) {
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

void Single(std::string& out, const char* name, const char* type, const char* help,
            uint64_t value) {
  Family(out, name, type, help);
  Sample(out, name, value);
}

}  // namespace

Status RemoveMetricsFile(const std::string& path) {
  if (path.empty() || ::unlink(path.c_str()) == 0 || errno == ENOENT) return Status::Ok();
  return Status::FromErrno(errno, "cannot remove " + path);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string RenderMetrics(const Scoreboard& board) {
  const Counters& c = board.counters;
  std::string out;

  Family(out, "backupd_requests_total", "counter",
         "Requests served, by operation and protocol response status.");
  for (const auto& [key, n] : c.requests) {
    out += "backupd_requests_total{op=\"";
    out += EscapeLabelValue(key.first);
    out += "\",status=\"";
    out += std::to_string(key.second);
    out += "\"} ";
    out += std::to_string(n);
    out += '\n';
  }
  Single(out, "backupd_bytes_received_total", "counter", "Bytes read from clients.", c.bytes_in);
  Single(out, "backupd_bytes_sent_total", "counter", "Bytes written to clients.", c.bytes_out);

  WorkerCounts n = CountWorkers(board);
  Family(out, "backupd_workers", "gauge", "Live worker processes by state.");
  out += "backupd_workers{state=\"idle\"} " + std::to_string(n.idle) + '\n';
  out += "backupd_workers{state=\"busy\"} " + std::to_string(n.busy) + '\n';
  out += "backupd_workers{state=\"starting\"} " + std::to_string(n.starting) + '\n';

  Single(out, "backupd_worker_starts_total", "counter", "Worker processes forked.",
         c.workers_started);
  Single(out, "backupd_worker_crashes_total", "counter",
         "Workers that died by a signal or a non-zero exit without being told to stop.",
         c.workers_crashed);
  Single(out, "backupd_throttles_total", "counter",
         "Times worker startup was throttled after a crash or a failed fork.", c.throttles);
  Single(out, "backupd_max_workers_reached_total", "counter",
         "Episodes of every worker busy at workers.max.", c.max_reached);
  Single(out, "backupd_stalled_clients_total", "counter",
         "Connections cut off for being too slow: header_timeout, min_rate or request_timeout.",
         c.stalled);
  Single(out, "backupd_reloads_total", "counter", "Configuration reloads applied.", c.reloads);
  Single(out, "backupd_generation", "gauge", "Current configuration generation.", board.generation);
  auto start =
      std::chrono::duration_cast<std::chrono::seconds>(board.started_at.time_since_epoch());
  Single(out, "backupd_start_time_seconds", "gauge",
         "Start time of the supervisor since the Unix epoch in seconds.",
         start.count() < 0 ? 0 : static_cast<uint64_t>(start.count()));
  return out;
}

}  // namespace backupd::daemon
