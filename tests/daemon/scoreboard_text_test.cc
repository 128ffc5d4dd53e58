// tests (any user): the status table rendered from a synthetic scoreboard, byte for byte.
#include "daemon/scoreboard_text.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "protocol/wire.h"

namespace backupd::daemon {
namespace {

using std::chrono::seconds;
using SteadyTime = std::chrono::steady_clock::time_point;

const SteadyTime kStarted{seconds(1000)};
// 1 day, 2 hours, 3 minutes and 4 seconds after the start.
const SteadyTime kNow = kStarted + seconds(93784);

WorkerSlot Slot(pid_t pid, uint32_t generation, ipc::WorkerState state, SteadyTime since) {
  WorkerSlot w;
  w.pid = pid;
  w.generation = generation;
  w.state = state;
  w.started = kStarted;
  w.state_since = since;
  return w;
}

Scoreboard SampleBoard() {
  Scoreboard b;
  b.supervisor_pid = 1234;
  b.generation = 3;
  b.started_at = std::chrono::system_clock::from_time_t(1714564800);  // 2024-05-01 12:00:00 UTC
  b.started = kStarted;
  b.counters.requests[{"backup", 212}] = 10;
  b.counters.requests[{"restore", 210}] = 5;
  b.counters.requests[{"backup", 1003}] = 2;
  b.counters.bytes_in = 1000000;
  b.counters.bytes_out = 2000;

  // Inserted out of pid order on purpose.
  WorkerSlot busy = Slot(42, 3, ipc::WorkerState::kBusy, kNow - seconds(12));
  busy.requests = 17;
  busy.bytes_in = 123456;
  busy.bytes_out = 654321;
  busy.op = static_cast<uint8_t>(protocol::Op::kBackup);
  busy.user_id = 1001;
  busy.peer = "192.0.2.1:5555";
  b.workers[42] = std::move(busy);

  WorkerSlot finishing = Slot(301, 2, ipc::WorkerState::kBusy, kNow - seconds(1));
  finishing.stopping = true;
  finishing.requests = 1;
  finishing.op = static_cast<uint8_t>(protocol::Op::kRestore);
  finishing.user_id = 7;
  finishing.peer = "[2001:db8::1]:40000";
  b.workers[301] = std::move(finishing);

  b.workers[300] = Slot(300, 3, ipc::WorkerState::kStarting, kNow);

  WorkerSlot stopping = Slot(7, 2, ipc::WorkerState::kIdle, kNow - seconds(5));
  stopping.stopping = true;
  stopping.requests = 3;
  stopping.bytes_in = 10;
  stopping.bytes_out = 20;
  stopping.op = static_cast<uint8_t>(protocol::Op::kList);
  stopping.user_id = 5;
  b.workers[7] = std::move(stopping);
  return b;
}

const char kHeading[] =
    "    PID  GEN STATE        FOR     REQS           IN          OUT       USER OP      PEER\n";

TEST(RenderScoreboard, ExactTableForAKnownScoreboard) {
  EXPECT_EQ(RenderScoreboard(SampleBoard(), kNow),
            std::string("backupd status\n"
                        "Supervisor PID: 1234\n"
                        "Started at:     2024-05-01 12:00:00 UTC\n"
                        "Uptime:         1d 02:03:04\n"
                        "Generation:     3\n"
                        "Workers:        4 (1 idle, 2 busy, 1 starting; 2 stopping)\n"
                        "Requests:       17\n"
                        "Bytes:          1000000 in, 2000 out\n"
                        "\n") +
                kHeading +
                "      7    2 stopping       5        3           10           20          5 list"
                "    -\n"
                "     42    3 busy          12       17       123456       654321       1001 backup"
                "  192.0.2.1:5555\n"
                "    300    3 starting       0        0            0            0          - -   "
                "    -\n"
                "    301    2 finishing      1        1            0            0          7 "
                "restore [2001:db8::1]:40000\n");
}

TEST(RenderScoreboard, EmptyScoreboardHasHeaderAndHeadingOnly) {
  Scoreboard b;
  b.supervisor_pid = 99;
  b.started_at = std::chrono::system_clock::from_time_t(0);
  b.started = kStarted;
  EXPECT_EQ(RenderScoreboard(b, kStarted + seconds(59)),
            std::string("backupd status\n"
                        "Supervisor PID: 99\n"
                        "Started at:     1970-01-01 00:00:00 UTC\n"
                        "Uptime:         0d 00:00:59\n"
                        "Generation:     1\n"
                        "Workers:        0 (0 idle, 0 busy, 0 starting; 0 stopping)\n"
                        "Requests:       0\n"
                        "Bytes:          0 in, 0 out\n"
                        "\n") +
                kHeading);
}

TEST(RenderScoreboard, TimesAfterNowCountAsZero) {
  Scoreboard b = SampleBoard();
  b.workers.clear();
  b.workers[5] = Slot(5, 3, ipc::WorkerState::kIdle, kNow + seconds(30));
  std::string table = RenderScoreboard(b, kStarted - seconds(1));
  EXPECT_NE(table.find("Uptime:         0d 00:00:00\n"), std::string::npos) << table;
  EXPECT_NE(table.find("\n      5    3 idle           0        0 "), std::string::npos) << table;
}

TEST(RenderScoreboard, PeerFromAWorkerIsEscaped) {
  Scoreboard b = SampleBoard();
  b.workers.clear();
  WorkerSlot w = Slot(8, 3, ipc::WorkerState::kBusy, kNow);
  w.peer = "1.2.3.4:5\x1b[2J\nfake row\\\x7f\xff";
  b.workers[8] = std::move(w);
  std::string table = RenderScoreboard(b, kNow);
  std::string last_row = table.substr(table.rfind('\n', table.size() - 2) + 1);
  EXPECT_EQ(last_row,
            "      8    3 busy           0        0            0            0          - -       "
            "1.2.3.4:5\\x1b[2J\\x0afake row\\x5c\\x7f\\xff\n");
}

}  // namespace
}  // namespace backupd::daemon
