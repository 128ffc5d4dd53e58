// worker (unprivileged) -> supervisor (root): the fixed-size report a worker writes to its pipe.
// The supervisor treats every report as untrusted gossip: it validates, it never trusts.
#ifndef BACKUPD_IPC_REPORT_H_
#define BACKUPD_IPC_REPORT_H_

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/status.h"

namespace backupd::ipc {

inline constexpr uint32_t kReportMagic = 0x42445250;  // "BDRP"

enum class ReportType : uint8_t {
  kState = 1,    // the worker went idle or busy
  kRequest = 2,  // one request finished: the access-log record
  kLog = 3,      // a line for the supervisor's log (workers open no log files)
  kStalled = 4,  // a client was cut off for being too slow: a warning and a count
};

enum class WorkerState : uint8_t { kStarting = 0, kIdle = 1, kBusy = 2 };

// Severity of a kLog report; the supervisor maps each to its log level (daemon/reports.cc).
enum class Severity : uint8_t { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// One message. Trivially copyable, written with one write() (atomic: <= PIPE_BUF), read whole.
struct Report {
  uint32_t magic = kReportMagic;
  uint32_t generation = 0;  // the supervisor's config generation the worker was forked in
  uint8_t type = 0;         // ReportType
  uint8_t state = 0;        // kState: WorkerState
  uint8_t severity = 0;     // kLog: Severity
  uint8_t op = 0;           // kRequest / kState busy: protocol op (0 if none decoded)
  uint16_t status = 0;      // kRequest: protocol status sent (0 if none)
  uint16_t reserved = 0;
  uint32_t user_id = 0;    // kRequest / kState busy
  uint32_t reserved2 = 0;  // names the bytes that would be padding before the 8-aligned counters
  uint64_t bytes_in = 0;   // kRequest: bytes read from the client
  uint64_t bytes_out = 0;  // kRequest: bytes written to the client
  uint64_t micros = 0;     // kRequest: time from first header byte to last response byte
  char peer[64] = {};      // kRequest / kState busy / kStalled: "ADDR:PORT", NUL-terminated
  char text[512] = {};     // kRequest: the (truncated) file name; kLog: the message;
                           // kStalled: what the client did
  char detail[256] = {};   // kRequest: why it failed, if it did
};
static_assert(std::is_trivially_copyable_v<Report>);
// No padding: every byte written to the pipe is a field the worker set, never leftover stack.
static_assert(std::has_unique_object_representations_v<Report>,
              "a report must have no padding bytes");
static_assert(sizeof(Report) <= PIPE_BUF, "a report must be one atomic pipe write");

// Copies `s` into a fixed field, truncating and NUL-terminating.
template <size_t N>
void SetField(char (&field)[N], std::string_view s) {
  size_t n = s.size() < N - 1 ? s.size() : N - 1;
  for (size_t i = 0; i < n; ++i) field[i] = s[i];
  field[n] = '\0';
}

// Writes one report with one write(); a full pipe drops it (EAGAIN) rather than blocking the
// worker, since a report is gossip and a request must never wait on the supervisor.
Status Send(int fd, const Report& report);

// Checks a report read from a worker: magic, known type and state, NUL-terminated strings.
// Invalid with a reason if any field is out of range.
Status Validate(const Report& report);

// Most reports read from one worker in one turn of the supervisor's loop, as many as the monitor
// serves (daemon/monitor.cc): a worker flooding its pipe cannot keep the loop from the others nor
// grow the supervisor's memory; what is left stays in the pipe for the next turn.
inline constexpr size_t kMaxReportsPerTurn = 16;
// A report pipe's capacity (F_SETPIPE_SZ; 1 MiB is Linux's default pipe-max-size): about 1,200
// reports, so the access records of a burst of batched uploads wait for a busy supervisor rather
// than being lost (the default 64 KiB held 77).
inline constexpr int kReportPipeBytes = 1 << 20;

// Reads the whole reports now available on a non-blocking fd into `out`, at most
// kMaxReportsPerTurn of them. Returns Closed at EOF (the worker is gone), OK otherwise (the pipe
// may hold more; poll says so). Bytes of a torn report (which a well-behaved worker cannot produce)
// are discarded with an Invalid status.
Status ReadAvailable(int fd, std::vector<Report>* out);

// Builders for the worker side.
Report StateReport(uint32_t generation, WorkerState state);
Report LogReport(uint32_t generation, Severity severity, std::string_view text);
Report StalledReport(uint32_t generation, std::string_view peer, std::string_view what);

}  // namespace backupd::ipc

#endif  // BACKUPD_IPC_REPORT_H_
