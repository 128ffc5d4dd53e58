// test process (any user): the supervisor's pure decisions — pool sizing, how a reaped worker is
// judged, the throttle's back-off, worker reports as log text — on synthetic scoreboards, with no
// processes and no clock but the one passed in.
#include "daemon/pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <vector>

#include "base/text.h"
#include "daemon/limits.h"
#include "daemon/reports.h"
#include "daemon/spawn.h"
#include "protocol/wire.h"

namespace backupd::daemon {
namespace {

using ipc::WorkerState;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Time = std::chrono::steady_clock::time_point;

const Time kT0{seconds(5000)};
const Time kNoThrottle{};

conf::Config Pool(uint32_t workers, uint32_t min_spare, uint32_t max_spare, uint32_t max) {
  conf::Config c;
  c.workers = workers;
  c.workers_min_spare = min_spare;
  c.workers_max_spare = max_spare;
  c.workers_max = max;
  return c;
}

class Board {
 public:
  // Adds a worker in `state`, in that state since `since`.
  pid_t Add(WorkerState state, Time since = kT0, bool stopping = false) {
    pid_t pid = next_pid_++;
    WorkerSlot& w = board_.workers[pid];
    w.pid = pid;
    w.state = state;
    w.state_since = since;
    w.stopping = stopping;
    return pid;
  }
  void AddMany(size_t n, WorkerState state) {
    for (size_t i = 0; i < n; ++i) Add(state);
  }
  // A reload told worker `pid`, if it exists, to stop.
  void SetStopping(pid_t pid) {
    auto it = board_.workers.find(pid);
    if (it != board_.workers.end()) it->second.stopping = true;
  }
  const Scoreboard& get() const { return board_; }

 private:
  Scoreboard board_;
  pid_t next_pid_ = 100;
};

// State whose next tick is due at `now`.
PoolState DueAt(Time now) {
  PoolState s;
  s.next_tick = now;
  return s;
}

TEST(SizePoolTest, TheFloorIsToppedUpAtOnceEvenBetweenTicks) {
  Board b;
  b.Add(WorkerState::kIdle);
  PoolState s;
  s.next_tick = kT0 + milliseconds(500);
  PoolDecision d = SizePool(b.get(), Pool(4, 1, 8, 32), s, kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 3u);
  EXPECT_TRUE(d.retire.empty());
  EXPECT_EQ(d.next.next_tick, s.next_tick) << "the spare rules ran between ticks";
}

TEST(SizePoolTest, ATickComesOncePerPoolTick) {
  Board b;
  b.AddMany(4, WorkerState::kIdle);
  PoolDecision d = SizePool(b.get(), Pool(4, 1, 8, 32), DueAt(kT0), kT0 + milliseconds(3), {});
  EXPECT_EQ(d.next.next_tick, kT0 + milliseconds(3) + kPoolTick);
}

TEST(SizePoolTest, MissingSparesAreForkedOneTwoFourUpToThirtyTwoPerTick) {
  Board b;
  b.Add(WorkerState::kBusy);
  // Spares are wanted without end; each tick's forks get busy at once.
  const conf::Config c = Pool(1, 1000, 1000, 1024);
  PoolState s = DueAt(kT0);
  std::vector<size_t> forks;
  Time now = kT0;
  for (int tick = 0; tick < 8; ++tick) {
    PoolDecision d = SizePool(b.get(), c, s, now, kNoThrottle);
    forks.push_back(d.fork);
    b.AddMany(d.fork, WorkerState::kBusy);
    s = d.next;
    now = s.next_tick;
  }
  EXPECT_EQ(forks, (std::vector<size_t>{1, 2, 4, 8, 16, 32, 32, 32}));
}

TEST(SizePoolTest, OnlyTheMissingSparesAreForkedAndTheRateFallsBackOnceEnough) {
  Board b;
  b.AddMany(3, WorkerState::kBusy);
  b.Add(WorkerState::kIdle);
  PoolState s = DueAt(kT0);
  s.spawn_rate = 16;
  PoolDecision d = SizePool(b.get(), Pool(2, 3, 8, 32), s, kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 2u) << "min_spare 3 with one idle";
  b.AddMany(2, WorkerState::kIdle);
  d = SizePool(b.get(), Pool(2, 3, 8, 32), d.next, d.next.next_tick, kNoThrottle);
  EXPECT_EQ(d.fork, 0u);
  EXPECT_EQ(d.next.spawn_rate, 1u);
}

TEST(SizePoolTest, NeverMoreThanWorkersMax) {
  Board b;
  b.AddMany(9, WorkerState::kBusy);
  PoolState s = DueAt(kT0);
  s.spawn_rate = kMaxSpawnRate;
  PoolDecision d = SizePool(b.get(), Pool(2, 5, 8, 10), s, kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 1u);
  b.Add(WorkerState::kBusy);
  d = SizePool(b.get(), Pool(2, 5, 8, 10), d.next, d.next.next_tick, kNoThrottle);
  EXPECT_EQ(d.fork, 0u);
}

TEST(SizePoolTest, ReachingWorkersMaxIsReportedOncePerEpisodeAndReArmedByAnIdleWorker) {
  Board busy;
  busy.AddMany(4, WorkerState::kBusy);
  const conf::Config c = Pool(2, 1, 8, 4);
  PoolDecision d = SizePool(busy.get(), c, DueAt(kT0), kT0, kNoThrottle);
  EXPECT_TRUE(d.max_reached);
  EXPECT_EQ(d.fork, 0u);
  d = SizePool(busy.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_FALSE(d.max_reached) << "said twice in one episode";

  Board one_idle;
  one_idle.AddMany(3, WorkerState::kBusy);
  one_idle.Add(WorkerState::kIdle);
  d = SizePool(one_idle.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_FALSE(d.max_reached);
  d = SizePool(busy.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_TRUE(d.max_reached) << "a new episode after a worker was idle again";
}

TEST(SizePoolTest, MaxReachedIsOnlyJudgedAtATick) {
  Board busy;
  busy.AddMany(4, WorkerState::kBusy);
  PoolState s;
  s.next_tick = kT0 + seconds(1);
  EXPECT_FALSE(SizePool(busy.get(), Pool(2, 1, 8, 4), s, kT0, kNoThrottle).max_reached);
}

TEST(SizePoolTest, IdleWorkersBeyondMaxSpareRetireOldestFirstOnePerTick) {
  Board b;
  b.Add(WorkerState::kIdle, kT0 - seconds(5));
  const pid_t oldest = b.Add(WorkerState::kIdle, kT0 - seconds(50));
  b.Add(WorkerState::kIdle, kT0 - seconds(20));
  b.Add(WorkerState::kBusy, kT0 - seconds(90));  // busy longest: not idle, never retired
  b.Add(WorkerState::kIdle, kT0 - seconds(1));
  PoolDecision d = SizePool(b.get(), Pool(2, 1, 2, 32), DueAt(kT0), kT0, kNoThrottle);
  EXPECT_EQ(d.retire, std::vector<pid_t>{oldest});
  EXPECT_EQ(d.fork, 0u);

  PoolState between;
  between.next_tick = kT0 + seconds(1);
  EXPECT_TRUE(SizePool(b.get(), Pool(2, 1, 2, 32), between, kT0, kNoThrottle).retire.empty());
}

TEST(SizePoolTest, RetirementNeverGoesBelowWorkers) {
  Board b;
  b.AddMany(4, WorkerState::kIdle);
  PoolDecision d = SizePool(b.get(), Pool(4, 0, 1, 32), DueAt(kT0), kT0, kNoThrottle);
  EXPECT_TRUE(d.retire.empty());
}

TEST(SizePoolTest, StartingWorkersCountAsSparesButAreNotRetired) {
  Board b;
  b.AddMany(3, WorkerState::kStarting);
  PoolDecision d = SizePool(b.get(), Pool(1, 3, 3, 32), DueAt(kT0), kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 0u);
  d = SizePool(b.get(), Pool(1, 0, 0, 32), DueAt(kT0), kT0, kNoThrottle);
  EXPECT_TRUE(d.retire.empty());
}

TEST(SizePoolTest, WorkersToldToStopDoNotCount) {
  Board b;
  b.Add(WorkerState::kIdle, kT0 - seconds(60), /*stopping=*/true);
  b.Add(WorkerState::kBusy, kT0, /*stopping=*/true);
  b.Add(WorkerState::kIdle, kT0 - seconds(30), /*stopping=*/true);
  PoolDecision d = SizePool(b.get(), Pool(3, 0, 0, 4), DueAt(kT0), kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 3u) << "leaving workers were counted toward the floor";
  EXPECT_TRUE(d.retire.empty()) << "a worker already leaving was retired again";
  EXPECT_FALSE(d.max_reached) << "leaving workers were counted toward workers.max";
}

TEST(SizePoolTest, WorkersOfAllGenerationsTogetherNeverPassTwiceWorkersMax) {
  // Three reloads in a row, each leaving workers.max busy old workers finishing uploads.
  const conf::Config c = Pool(4, 2, 8, 4);
  ASSERT_EQ(WorkerProcessLimit(c), 8u);
  Board b;
  PoolState s = DueAt(kT0);
  Time now = kT0;
  for (int reload = 0; reload < 3; ++reload) {
    for (int turn = 0; turn < 5; ++turn) {
      PoolDecision d = SizePool(b.get(), c, s, now, kNoThrottle);
      b.AddMany(d.fork, WorkerState::kBusy);
      EXPECT_LE(b.get().workers.size(), 8u) << "reload " << reload << " turn " << turn;
      s = d.next;
      now = s.next_tick;
    }
    for (pid_t pid = 100; pid < 100 + 64; ++pid) b.SetStopping(pid);
  }
  EXPECT_EQ(b.get().workers.size(), 8u);
}

TEST(SizePoolTest, TheProcessLimitIsReportedOncePerEpisodeAndReArmedWhenThereIsRoom) {
  const conf::Config c = Pool(2, 1, 8, 2);
  Board b;
  for (int i = 0; i < 4; ++i) b.Add(WorkerState::kBusy, kT0, /*stopping=*/true);
  PoolDecision d = SizePool(b.get(), c, DueAt(kT0), kT0, kNoThrottle);
  EXPECT_EQ(d.fork, 0u) << "forked past 2 x workers.max";
  EXPECT_TRUE(d.limit_reached);
  d = SizePool(b.get(), c, d.next, kT0 + milliseconds(1), kNoThrottle);
  EXPECT_EQ(d.fork, 0u);
  EXPECT_FALSE(d.limit_reached) << "said again between ticks of one episode";
  d = SizePool(b.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_FALSE(d.limit_reached) << "said again at the next tick of one episode";

  Board fewer;
  for (int i = 0; i < 3; ++i) fewer.Add(WorkerState::kBusy, kT0, /*stopping=*/true);
  d = SizePool(fewer.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_EQ(d.fork, 1u) << "one old worker left: one fork fits";
  EXPECT_FALSE(d.limit_reached) << "still the same episode";
  Board room;
  room.Add(WorkerState::kIdle);
  d = SizePool(room.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_FALSE(d.next.limit_warned) << "room again did not end the episode";
  for (int i = 0; i < 4; ++i) room.Add(WorkerState::kBusy, kT0, /*stopping=*/true);
  d = SizePool(room.get(), c, d.next, d.next.next_tick, kNoThrottle);
  EXPECT_EQ(d.fork, 0u);
  EXPECT_TRUE(d.limit_reached) << "a new episode was not reported";
}

TEST(SizePoolTest, NothingIsForkedWhileThrottled) {
  Board b;
  b.Add(WorkerState::kBusy);
  const conf::Config c = Pool(3, 3, 8, 32);
  const Time until = kT0 + seconds(4);
  PoolDecision d = SizePool(b.get(), c, DueAt(kT0), kT0, until);
  EXPECT_EQ(d.fork, 0u);
  d = SizePool(b.get(), c, DueAt(until - milliseconds(1)), until - milliseconds(1), until);
  EXPECT_EQ(d.fork, 0u);
  d = SizePool(b.get(), c, DueAt(until), until, until);
  EXPECT_EQ(d.fork, 2u + 1u) << "the floor (2 missing), then the one spare still short";
}

// max_requests recycling is decided in the worker (worker/worker_main.cc: it returns from its
// accept loop after that many connections and exits 0). The supervisor's part is to take that
// exit as expected — no crash, no throttle — and to replace the worker at once.
TEST(WorkerExitTest, ARecycledWorkerIsAnExpectedExitAndIsReplacedAtOnce) {
  WorkerSlot w;
  w.state = WorkerState::kIdle;
  EXPECT_EQ(ClassifyExit(W_EXITCODE(0, 0), w), WorkerExit::kExpected);
  Board b;
  b.AddMany(2, WorkerState::kIdle);  // the third just left
  PoolState between;
  between.next_tick = kT0 + milliseconds(700);
  EXPECT_EQ(SizePool(b.get(), Pool(3, 1, 8, 32), between, kT0, kNoThrottle).fork, 1u);
}

TEST(WorkerExitTest, ExitsAreJudgedByStatusStateAndWhetherItWasToldToStop) {
  WorkerSlot starting;
  EXPECT_EQ(ClassifyExit(W_EXITCODE(1, 0), starting), WorkerExit::kDiedStarting);
  EXPECT_EQ(ClassifyExit(SIGSEGV, starting), WorkerExit::kDiedStarting);
  WorkerSlot serving;
  serving.state = WorkerState::kBusy;
  EXPECT_EQ(ClassifyExit(W_EXITCODE(1, 0), serving), WorkerExit::kCrashed);
  EXPECT_EQ(ClassifyExit(SIGKILL, serving), WorkerExit::kCrashed);
  serving.stopping = true;
  EXPECT_EQ(ClassifyExit(SIGKILL, serving), WorkerExit::kExpected) << "killed by us at shutdown";
  EXPECT_EQ(ClassifyExit(SIGSEGV, serving), WorkerExit::kCrashed);
  EXPECT_EQ(DescribeExit(W_EXITCODE(3, 0)), "exited with status 3");
  EXPECT_EQ(DescribeExit(SIGKILL), "killed by signal 9 (Killed)");
  EXPECT_EQ(DescribeExit(SIGSYS),
            "killed by signal 31 (SIGSYS, Bad system call): the syscall filter refused a call");
}

TEST(ThrottleTest, TheDelayStartsAtOneSecondAndDoublesUpToThirtyTwo) {
  std::vector<long> seen;
  milliseconds delay{0};
  for (int i = 0; i < 8; ++i) {
    delay = NextThrottleDelay(delay);
    seen.push_back(static_cast<long>(delay.count()));
  }
  EXPECT_EQ(seen, (std::vector<long>{1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000}));
}

TEST(ReportTextTest, EachSeverityHasItsOwnLogLevel) {
  EXPECT_EQ(ToLogLevel(ipc::Severity::kDebug), conf::LogLevel::kDebug);
  EXPECT_EQ(ToLogLevel(ipc::Severity::kInfo), conf::LogLevel::kInfo);
  EXPECT_EQ(ToLogLevel(ipc::Severity::kWarning), conf::LogLevel::kWarning);
  EXPECT_EQ(ToLogLevel(ipc::Severity::kError), conf::LogLevel::kError);
}

TEST(ReportTextTest, TheAccessLineEscapesWhatTheClientChose) {
  ipc::Report r;
  r.type = static_cast<uint8_t>(ipc::ReportType::kRequest);
  r.op = static_cast<uint8_t>(protocol::Op::kBackup);
  r.status = 1003;
  r.user_id = 42;
  r.bytes_in = 10;
  r.bytes_out = 3;
  r.micros = 77;
  ipc::SetField(r.peer, "127.0.0.1:5000");
  ipc::SetField(r.text, "a\"b\nc");
  ipc::SetField(r.detail, "no space");
  EXPECT_EQ(AccessLine(r, 314),
            "access 127.0.0.1:5000 user=42 op=backup name=\"a\\x22b\\x0ac\" status=1003 in=10 "
            "out=3 us=77 pid=314 error=\"no space\"");
  r.detail[0] = '\0';
  EXPECT_EQ(AccessLine(r, 314).find("error="), std::string::npos);
}

}  // namespace
}  // namespace backupd::daemon
