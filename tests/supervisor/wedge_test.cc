// test process (root): what workers cannot do to the supervisor — reloads during long uploads
// leave old workers finishing them, and still the daemon never runs more than 2 x workers.max
// workers of all generations together while every upload completes intact; a worker flooding its
// report pipe neither delays the other reports nor grows the supervisor's memory.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "ipc/report.h"
#include "tests/supervisor/supervisor_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

constexpr size_t kWorkersMax = 4;
constexpr size_t kLimit = 2 * kWorkersMax;  // daemon/pool.h: WorkerProcessLimit
constexpr size_t kUploads = 50;
constexpr int kReloads = 20;
constexpr size_t kChunk = 2048;
// One chunk per reload, and the last one after them: every upload is still going when the last
// reload comes, so the old generations' workers are all busy and none of them may leave.
constexpr size_t kChunks = kReloads + 1;

class ProcessLimitTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    // Every connection is its own: the per-address limit is not what this test is about.
    return {{"workers=2", "workers.min_spare=1", "workers.max_spare=4",
             "workers.max=" + std::to_string(kWorkersMax), "max_connections_per_ip=0",
             "idle_timeout=30", "request_timeout=120"}};
  }
};

TEST_F(ProcessLimitTest, TwentyReloadsDuringFiftySlowUploadsNeverPassTwiceWorkersMax) {
  ASSERT_TRUE(daemon_.WaitForWorkers(2, Millis(5000)).ok());
  // The supervisor's children, counted from /proc by a thread polling throughout, and after
  // every reload by the test itself (so a slow /proc scan cannot skip a generation).
  std::atomic<bool> sampling{true};
  std::atomic<size_t> most{0};
  auto sample = [&] {
    const size_t n = ChildrenOf(daemon_.pid()).size();
    size_t seen = most;
    while (n > seen && !most.compare_exchange_weak(seen, n)) {
    }
  };
  std::thread sampler([&] {
    while (sampling) {
      sample();
      std::this_thread::sleep_for(Millis(1));
    }
  });

  // All connect at once: the pool serves what it may, the rest wait in the listen backlog with
  // their request prefix and every chunk sent so far in the kernel's buffers.
  std::vector<std::unique_ptr<RawClient>> clients;
  std::vector<std::string> payloads;
  for (size_t i = 0; i < kUploads; ++i) {
    payloads.push_back(RandomBytes(kChunk * kChunks, 1000 + i));
    clients.push_back(std::make_unique<RawClient>());
    ASSERT_TRUE(clients[i]->Connect(daemon_.port()).ok());
    ASSERT_TRUE(clients[i]
                    ->Send(RequestBytes(static_cast<uint32_t>(7000 + i), Op::kBackup, "slow",
                                        static_cast<uint32_t>(payloads[i].size())))
                    .ok());
  }
  for (int reload = 0; reload < kReloads; ++reload) {
    for (size_t i = 0; i < kUploads; ++i) {
      ASSERT_TRUE(
          clients[i]->Send(std::string_view(payloads[i]).substr(reload * kChunk, kChunk)).ok());
    }
    ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
    ASSERT_TRUE(daemon_.WaitForLogLine(
        {"configuration reloaded (generation " + std::to_string(reload + 2) + ")"}, Millis(5000)))
        << daemon_.Log();
    sample();
  }
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"reached the limit of " + std::to_string(kLimit) + " worker processes"}, Millis(5000)))
      << "the limit never held a fork back, so this test proved nothing\n"
      << daemon_.Log();

  std::vector<Result<Response>> answers(kUploads, Status::Timeout("not finished"));
  std::vector<std::thread> finishers;
  for (size_t i = 0; i < kUploads; ++i) {
    finishers.emplace_back([&, i] {
      Status s = clients[i]->Send(std::string_view(payloads[i]).substr(kReloads * kChunk));
      answers[i] = s.ok() ? clients[i]->ReadResponse(Millis(40000)) : Result<Response>(s);
      // Hanging up frees the worker at once, as a client with nothing more to send does.
      clients[i]->Close();
    });
  }
  for (std::thread& t : finishers) t.join();
  sampling = false;
  sampler.join();

  EXPECT_LE(most.load(), kLimit) << "worker processes of all generations together";
  for (size_t i = 0; i < kUploads; ++i) {
    EXPECT_TRUE(HasStatus(answers[i], kOk)) << "upload " << i;
    std::optional<std::string> stored =
        ReadFile(UserDir(static_cast<uint32_t>(7000 + i)) + "/slow");
    ASSERT_TRUE(stored.has_value()) << "upload " << i;
    EXPECT_TRUE(*stored == payloads[i]) << "upload " << i << " stored other bytes";
  }
}

using ReportFloodTest = SupervisorTest;

// The supervisor's resident memory in KiB, from /proc/PID/status.
size_t RssKib(pid_t pid) {
  std::string rss = ProcStatusField(pid, "VmRSS").value_or("0");
  return static_cast<size_t>(std::strtoul(rss.c_str(), nullptr, 10));
}

TEST_F(ReportFloodTest, AWorkerFloodingItsPipeNeitherDelaysOtherReportsNorGrowsTheSupervisor) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  // Act as a compromised worker: write to its report pipe (the one pipe it holds beyond stdio).
  const pid_t flooder = workers->front();
  UniqueFd pipe;
  for (const auto& [fd, target] : ProcFds(flooder)) {
    if (fd > 2 && target.rfind("pipe:", 0) == 0) {
      ASSERT_FALSE(pipe.valid()) << "worker " << flooder << " holds more than one pipe";
      pipe = UniqueFd(
          ::open(("/proc/" + std::to_string(flooder) + "/fd/" + std::to_string(fd)).c_str(),
                 O_WRONLY | O_CLOEXEC));
      ASSERT_TRUE(pipe.valid());
    }
  }
  ASSERT_TRUE(pipe.valid()) << "no report pipe found in worker " << flooder;
  // The flooding worker does nothing else (its own reports would only be dropped on its full
  // pipe, by design): the requests below are served, and reported, by the other workers.
  ASSERT_EQ(::kill(flooder, SIGSTOP), 0);
  const size_t rss_before = RssKib(daemon_.pid());
  // Valid reports of its own generation that log nothing: the supervisor must read each one.
  const ipc::Report idle = ipc::StateReport(1, ipc::WorkerState::kIdle);
  // The supervisor may close the stopped worker's pipe (a retired or dead worker's) while a thread
  // writes to it: that must end the writes with EPIPE, not the test with SIGPIPE.
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &previous), 0);
  std::atomic<bool> flooding{true};
  std::atomic<size_t> flooded{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 4; ++t) {
    flood.emplace_back([&] {
      while (flooding && ::write(pipe.get(), &idle, sizeof idle) == sizeof idle) ++flooded;
    });
  }

  // The flood in full swing first: on a slow (sanitized) build the 20 requests alone may take
  // less time than 10,000 reports.
  ASSERT_TRUE(Eventually([&] { return flooded.load() > 10000u; }, Millis(20000)))
      << flooded.load() << " reports written";
  // Every request's access line is logged within a second of its answer, all the while the
  // flooder's pipe is kept full.
  for (uint32_t i = 0; i < 20; ++i) {
    const uint32_t user = 8100 + i;
    ASSERT_TRUE(HasStatus(CallOnce(user, protocol::Op::kList, ""), 1002));
    EXPECT_TRUE(daemon_.WaitForLogLine({"user=" + std::to_string(user), "op=list"}, Millis(1000)))
        << "request " << i << " of user " << user << " not logged while a worker floods";
  }
  const size_t rss_after = RssKib(daemon_.pid());
  flooding = false;
  ::kill(flooder, SIGKILL);  // unblocks a writer waiting on a full pipe once the reader is gone
  pipe.reset();
  for (std::thread& t : flood) t.join();
  ::sigaction(SIGPIPE, &previous, nullptr);
  EXPECT_GT(flooded.load(), 10000u) << "the flood was too small to mean anything";
  if (kMemoryIsMeasurable) {
    EXPECT_LT(rss_after, rss_before + 4096)
        << "the supervisor grew from " << rss_before << " KiB to " << rss_after << " KiB";
  }
}

}  // namespace
}  // namespace backupd::testing
