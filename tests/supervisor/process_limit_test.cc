// test process (root): the hard limit on worker processes — reloads during long uploads leave old
// workers finishing them, and still the daemon never runs more than 2 x workers.max workers of all
// generations together, while every upload completes intact.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace backupd::testing
