// test process (root): the worker pool under abuse — killed workers and supervisor, workers that
// crash at start, a crowd of clients, idle and slow-drip connections, the per-IP limit.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/supervisor/supervisor_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kListOk = 211;
constexpr uint16_t kNoFiles = 1002;

// Polls until the daemon has exactly `n` ready workers and none of them is in `gone`.
Result<std::vector<pid_t>> WaitForReplacements(const Daemon& daemon, size_t n,
                                               const std::set<pid_t>& gone, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Result<std::vector<pid_t>> now = daemon.WaitForWorkers(n, Millis(100));
    bool fresh = now.ok() && std::none_of(now->begin(), now->end(),
                                          [&](pid_t p) { return gone.count(p) != 0; });
    if (fresh) return now;
    if (Clock::now() >= deadline) {
      return Status::Timeout("no " + std::to_string(n) + " fresh workers; log:\n" + daemon.Log());
    }
  }
}

std::string Metric(const std::string& text, const std::string& key) {
  Result<std::map<std::string, double>> m = ParsePrometheus(text);
  if (!m.ok()) return "unparsable: " + m.status().ToString();
  auto it = m->find(key);
  return it == m->end() ? "absent" : std::to_string(static_cast<uint64_t>(it->second));
}

using PoolTest = SupervisorTest;

TEST_F(PoolTest, KilledBusyAndIdleWorkersAreReplacedAndNoPartialFileIsStored) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const uint32_t user = 5001;
  const std::string dir = UserDir(user) + "/db";
  const std::string v1 = RandomBytes(64 << 10, 1);
  ASSERT_TRUE(HasStatus(CallOnce(user, Op::kBackup, "db/dump", v1), kOk));

  UploadInFlight upload;
  const std::string next = RandomBytes(8 << 20, 2);
  Status s = StartUpload(daemon_, dir, user, "db/dump", next, 1 << 20, &upload);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const pid_t busy = upload.worker;
  pid_t idle = -1;
  for (pid_t w : daemon_.Workers()) {
    if (w != busy) idle = w;
  }
  ASSERT_GT(idle, 0);
  ASSERT_EQ(kill(busy, SIGKILL), 0);
  ASSERT_EQ(kill(idle, SIGKILL), 0);

  // Nobody else holds that connection: the client must see it die, never a success.
  Result<Response> killed = upload.Finish();
  EXPECT_TRUE(!killed.ok() || killed->status == kError)
      << "the killed upload was answered with status " << killed->status;

  Result<std::vector<pid_t>> after = WaitForReplacements(daemon_, 3, {busy, idle}, Millis(5000));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_TRUE(ProcessAlive(daemon_.pid()));

  // The session child dies when the kernel tells it its worker is gone, which is after the
  // worker's memory is torn down (slow under the sanitizers): it may finish the upload in the
  // meantime, unanswered. Stored is then one whole version or the other, never a mix.
  const std::optional<std::string> stored = ReadFile(dir + "/dump");
  EXPECT_TRUE(stored == v1 || stored == next)
      << "a partial file was stored: " << (stored ? stored->size() : 0) << " bytes";
  Result<Response> r = CallOnce(user, Op::kRestore, "db/dump");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_TRUE(r->payload == stored) << "restore returned " << r->payload.size() << " bytes";
  r = CallOnce(user, Op::kList, "");
  ASSERT_TRUE(HasStatus(r, kListOk));
  EXPECT_EQ(r->payload, "db/dump\n");
  // The killed upload's temp file must not stay for good: by the time the replacements run and
  // the folder has seen another upload, it is gone.
  const std::string v3 = RandomBytes(32 << 10, 3);
  ASSERT_TRUE(HasStatus(CallOnce(user, Op::kBackup, "db/dump", v3), kOk));
  EXPECT_TRUE(ReadFile(dir + "/dump") == v3);
  EXPECT_TRUE(Eventually([&] { return !HasTempFile(dir); }, Millis(3000)))
      << "the killed worker's temp file is left in " << dir << ": "
      << ::testing::PrintToString(ListDir(dir));
}

TEST_F(PoolTest, KilledSupervisorTakesEveryWorkerWithIt) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  ASSERT_EQ(kill(daemon_.pid(), SIGKILL), 0);
  const auto killed_at = Clock::now();
  EXPECT_TRUE(Eventually(
      [&] { return std::none_of(workers->begin(), workers->end(), ProcessAlive); }, Millis(2000)))
      << "workers outlived their supervisor (PR_SET_PDEATHSIG)";
  EXPECT_LT(Clock::now() - killed_at, std::chrono::seconds(2));
  // With every holder of the listening socket gone, the port refuses connections.
  EXPECT_TRUE(Eventually([&] { return !RawClient().Connect(daemon_.port()).ok(); }, Millis(2000)));
  // Orphans are no longer the harness's to find: do not leave them behind on failure.
  for (pid_t w : *workers) {
    if (ProcessAlive(w)) kill(w, SIGKILL);
  }
}

class CrashAtStartTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    return {{"workers=2", "metrics_file=" + daemon_.dir() + "/m.prom"}};
  }
};

TEST_F(CrashAtStartTest, WorkerCrashingAtStartIsThrottledThenRecovers) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(2, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  // A worker opens storage by path before chrooting into it: with the folder gone, every new
  // worker aborts before it can serve.
  const std::string away = daemon_.storage() + ".away";
  std::filesystem::rename(daemon_.storage(), away);
  const std::string kStarted = "started worker ";
  const size_t starts_before = CountOf(daemon_.Log(), kStarted);
  for (pid_t w : *workers) ASSERT_EQ(kill(w, SIGKILL), 0);

  EXPECT_TRUE(daemon_.WaitForLogLine({"before serving", "throttling"}, Millis(3000)))
      << daemon_.Log();
  // Over three seconds a tight respawn loop would fork hundreds of workers; a throttled one, a few.
  EXPECT_FALSE(daemon_.WaitForLog(
      [&](const std::string& log) { return CountOf(log, kStarted) > starts_before + 6; },
      Millis(3000)))
      << "workers respawned in a tight loop: " << CountOf(daemon_.Log(), kStarted) - starts_before
      << " forks in 3 s";
  const size_t starts = CountOf(daemon_.Log(), kStarted) - starts_before;
  EXPECT_GE(starts, 2u) << "the killed workers were not even replaced";
  EXPECT_EQ(CountOf(daemon_.Log(), "throttling"), 1u) << "the throttle is to be logged once";
  ASSERT_TRUE(ProcessAlive(daemon_.pid())) << "the supervisor died with its workers";

  std::filesystem::rename(away, daemon_.storage());
  Result<std::vector<pid_t>> back = daemon_.WaitForWorkers(2, Millis(20000));
  ASSERT_TRUE(back.ok()) << "the pool never recovered: " << back.status().ToString();
  EXPECT_TRUE(HasStatus(CallOnce(5101, Op::kBackup, "after", "ok"), kOk));
  EXPECT_TRUE(daemon_.WaitForLogLine({"throttle lifted"}, Millis(2000)));
  std::string metrics;
  EXPECT_TRUE(Eventually(
      [&] {
        metrics = ReadFile(daemon_.dir() + "/m.prom").value_or("");
        Result<std::map<std::string, double>> m = ParsePrometheus(metrics);
        return m.ok() && (*m)["backupd_throttles_total"] >= 1 &&
               (*m)["backupd_worker_crashes_total"] >= 2;
      },
      Millis(7000)))
      << "throttles " << Metric(metrics, "backupd_throttles_total") << ", crashes "
      << Metric(metrics, "backupd_worker_crashes_total");
}

class MaxRequestsTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    return {{"workers=1", "workers.min_spare=0", "workers.max_requests=2"}};
  }
};

TEST_F(MaxRequestsTest, AWorkerIsRecycledAfterMaxRequestsConnectionsAndReplacedAsNoCrash) {
  Result<std::vector<pid_t>> first = daemon_.WaitForWorkers(1, Millis(5000));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const pid_t recycled = first->front();
  ASSERT_TRUE(HasStatus(CallOnce(5151, Op::kList, ""), kNoFiles));
  EXPECT_TRUE(ProcessAlive(recycled)) << "recycled after one connection of two";
  ASSERT_TRUE(HasStatus(CallOnce(5151, Op::kList, ""), kNoFiles));

  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"worker " + std::to_string(recycled) + " exited with status 0"}, Millis(3000)))
      << daemon_.Log();
  Result<std::vector<pid_t>> next = WaitForReplacements(daemon_, 1, {recycled}, Millis(5000));
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_TRUE(HasStatus(CallOnce(5151, Op::kList, ""), kNoFiles));
  const std::string log = daemon_.Log();
  EXPECT_EQ(log.find("starting a replacement"), std::string::npos) << log;
  EXPECT_EQ(log.find("throttling"), std::string::npos) << log;
}

class SmallPoolTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    return {{"workers=2", "workers.min_spare=2", "workers.max=4"}};
  }
};

TEST_F(SmallPoolTest, PoolGrowsUnderLoadUpToMaxAndQueuesTheRest) {
  ASSERT_TRUE(daemon_.WaitForWorkers(2, Millis(5000)).ok());
  std::atomic<size_t> most{0};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      size_t n = daemon_.Workers().size();
      if (n > most) most = n;
      poll(nullptr, 0, 5);
    }
  });
  // Each upload pins one worker; the pool has to grow past `workers` for the later ones.
  std::vector<std::unique_ptr<UploadInFlight>> uploads;
  for (uint32_t i = 0; i < 4; ++i) {
    uploads.push_back(std::make_unique<UploadInFlight>());
    Status s = StartUpload(daemon_, UserDir(5200 + i), 5200 + i, "big", RandomBytes(2 << 20, i),
                           1 << 10, uploads.back().get());
    EXPECT_TRUE(s.ok()) << "upload " << i << ": " << s.ToString();
  }
  EXPECT_TRUE(daemon_.WaitForLogLine({"reached workers.max (4)"}, Millis(3000)));
  // A fifth client waits in the backlog, not refused, and is served when a worker frees up.
  RawClient fifth;
  ASSERT_TRUE(fifth.Connect(daemon_.port()).ok());
  ASSERT_TRUE(fifth.Send(RequestBytes(5299, Op::kList, "")).ok());
  Result<Response> early = fifth.ReadResponse(Millis(1500));
  EXPECT_FALSE(early.ok()) << "a fifth worker served while workers.max = 4";
  // Hanging up frees each worker at once instead of after idle_timeout.
  for (uint32_t i = 0; i < uploads.size(); ++i) {
    EXPECT_TRUE(HasStatus(uploads[i]->Finish(), kOk)) << "upload " << i;
    uploads[i]->client.Close();
  }
  EXPECT_TRUE(HasStatus(fifth.ReadResponse(Millis(3000)), kNoFiles));
  sampling = false;
  sampler.join();
  EXPECT_EQ(most.load(), 4u) << "the pool peaked at " << most << " workers";
  for (uint32_t i = 0; i < uploads.size(); ++i) {
    EXPECT_TRUE(ReadFile(UserDir(5200 + i) + "/big") == uploads[i]->payload) << "upload " << i;
  }
}

class CrowdTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    return {{"workers=2", "workers.max=8", "workers.min_spare=2", "listen_backlog=256",
             "metrics_file=" + daemon_.dir() + "/m.prom"}};
  }
};

TEST_F(CrowdTest, TwoHundredConcurrentClientsAreAllServedByAtMostEightWorkers) {
  constexpr int kClients = 200;
  ASSERT_TRUE(daemon_.WaitForWorkers(2, Millis(5000)).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::string> failures(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      const uint32_t user = 6000 + static_cast<uint32_t>(i);
      const std::string content = RandomBytes(16384 + static_cast<size_t>(i) * 7, 600 + i);
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      RawClient c;
      Status s = c.Connect(daemon_.port());
      if (!s.ok()) {
        failures[i] = s.ToString();
        return;
      }
      Result<Response> r = c.Call(user, Op::kBackup, "crowd/file", content);
      if (!HasStatus(r, kOk)) {
        failures[i] = "backup: " + std::string(HasStatus(r, kOk).message());
        return;
      }
      r = c.Call(user, Op::kRestore, "crowd/file");
      if (!HasStatus(r, kRestoreOk)) {
        failures[i] = "restore: " + std::string(HasStatus(r, kRestoreOk).message());
      } else if (r->payload != content) {
        failures[i] = "restore returned other bytes";
      }
    });
  }
  std::atomic<bool> sampling{true};
  size_t most_children = 0;
  size_t most_in_status = 0;
  std::string status_problem;
  std::thread sampler([&] {
    while (sampling) {
      most_children = std::max(most_children, daemon_.Workers().size());
      StatusReport report = RunStatus(daemon_.config_file());
      if (report.exit_code != 0) status_problem = report.text;
      most_in_status = std::max(most_in_status, report.rows.size());
    }
  });
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  for (std::thread& t : threads) t.join();
  sampling = false;
  sampler.join();

  int failed = 0;
  for (int i = 0; i < kClients; ++i) {
    if (!failures[i].empty() && ++failed <= 5)
      ADD_FAILURE() << "client " << i << ": " << failures[i];
  }
  EXPECT_EQ(failed, 0);
  EXPECT_LE(most_children, 8u);
  EXPECT_LE(most_in_status, 8u);
  EXPECT_GE(most_in_status, 2u);
  EXPECT_EQ(status_problem, "");
  for (int i = 0; i < kClients; i += 37) {
    EXPECT_TRUE(ReadFile(UserDir(6000 + static_cast<uint32_t>(i)) + "/crowd/file") ==
                RandomBytes(16384 + static_cast<size_t>(i) * 7, 600 + i))
        << "client " << i;
  }
  std::string metrics;
  EXPECT_TRUE(Eventually(
      [&] {
        metrics = ReadFile(daemon_.dir() + "/m.prom").value_or("");
        Result<std::map<std::string, double>> m = ParsePrometheus(metrics);
        return m.ok() && (*m)["backupd_requests_total{op=\"backup\",status=\"212\"}"] == kClients &&
               (*m)["backupd_requests_total{op=\"restore\",status=\"210\"}"] == kClients;
      },
      Millis(7000)))
      << metrics;
  Result<std::map<std::string, double>> m = ParsePrometheus(metrics);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  double workers = (*m)["backupd_workers{state=\"idle\"}"] +
                   (*m)["backupd_workers{state=\"busy\"}"] +
                   (*m)["backupd_workers{state=\"starting\"}"];
  EXPECT_GE(workers, 2);
  EXPECT_LE(workers, 8);
}

class IdleFloodTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    return {{"idle_timeout=2", "workers=2", "workers.max=4"}};
  }
};

TEST_F(IdleFloodTest, HundredIdleConnectionsDoNotBlockANewClientBeyondIdleTimeout) {
  ASSERT_TRUE(daemon_.WaitForWorkers(2, Millis(5000)).ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawClient>());
    Status s = idle.back()->Connect(daemon_.port());
    ASSERT_TRUE(s.ok()) << "idle connection " << i << ": " << s.ToString();
  }
  const auto start = Clock::now();
  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(client.Send(RequestBytes(5301, Op::kList, "")).ok());
  // A few idle_timeouts: 100 idle connections served 4 at a time would take 50 s.
  Result<Response> r = client.ReadResponse(Millis(8000));
  EXPECT_TRUE(HasStatus(r, kNoFiles))
      << "after " << std::chrono::duration_cast<Millis>(Clock::now() - start).count()
      << " ms with 100 idle connections open (idle_timeout=2, workers.max=4)";
}

class SlowDripTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override { return {{"request_timeout=2"}}; }
};

TEST_F(SlowDripTest, SlowDripClientIsCutOffByRequestTimeout) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(daemon_.port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
  std::string request = RequestBytes(5401, Op::kBackup, "drip", 64) + std::string(64, 'd');
  std::string answer;
  bool closed = false;
  const auto first_byte = Clock::now();
  // One byte per 500 ms: the header alone takes longer than request_timeout.
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 500) <= 0) continue;
    char buf[256];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
    closed = true;  // EOF or reset, after any answer
  }
  const auto cut_after = std::chrono::duration_cast<Millis>(Clock::now() - first_byte);
  close(fd);
  ASSERT_TRUE(closed) << "the whole request trickled in over " << cut_after.count() << " ms";
  EXPECT_GE(cut_after.count(), 1500) << "cut off before request_timeout";
  // Far from the 300 s a missing cut would take, with room for a busy or sanitized machine.
  EXPECT_LE(cut_after.count(), 8000) << "request_timeout=2 did not cut the drip off in time";
  // Whatever came back is at most one general error, never a success.
  if (!answer.empty()) {
    EXPECT_EQ(answer.substr(0, 3), std::string("\x01\xeb\x03", 3))
        << "answer of " << answer.size() << " bytes";
  }
  EXPECT_FALSE(PathExists(UserDir(5401) + "/drip"));
}

class PerIpLimitTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override { return {{"max_connections_per_ip=2"}}; }
};

TEST_F(PerIpLimitTest, ThirdConnectionFromOneAddressGetsAnErrorInItsProtocolAndIsClosed) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  // Answered requests prove both connections sit in workers, not in the backlog.
  RawClient a, b;
  ASSERT_TRUE(a.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(a.Call(5501, Op::kList, ""), kNoFiles));
  ASSERT_TRUE(b.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(b.Call(5501, Op::kList, ""), kNoFiles));

  RawClient c;
  ASSERT_TRUE(c.Connect(daemon_.port()).ok());
  ASSERT_TRUE(c.Send(RequestBytes(5501, Op::kList, "")).ok());
  Result<Response> refused = c.ReadResponse(Millis(3000));
  ASSERT_TRUE(HasStatus(refused, kError));
  EXPECT_EQ(refused->name, "");
  EXPECT_TRUE(c.WaitClosed(Millis(2000)));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"refused 127.0.0.1", "max_connections_per_ip"}, Millis(2000)));

  // A v2 client is told in v2: busy (1015), why, and to try later, not a v1 answer it would
  // take for a v1-only server.
  V2Client v2c;
  ASSERT_TRUE(v2c.Connect(daemon_.port()));
  ASSERT_TRUE(v2c.Send(protocol::v2::EncodeRequestPrefix(5501, protocol::v2::Op::kList, "", 0)));
  V2Response busy = v2c.Read();
  EXPECT_EQ(busy.status, 1015);
  EXPECT_NE(busy.payload.find("2 connections already open from 127.0.0.1"), std::string::npos)
      << busy.payload;
  EXPECT_NE(busy.payload.find("max_connections_per_ip"), std::string::npos) << busy.payload;

  // The two held connections are unaffected, and once one goes a new one is welcome.
  EXPECT_TRUE(HasStatus(a.Call(5501, Op::kList, ""), kNoFiles));
  b.Close();
  EXPECT_TRUE(Eventually(
      [&] {
        RawClient d;
        return d.Connect(daemon_.port()).ok() && HasStatus(d.Call(5501, Op::kList, ""), kNoFiles);
      },
      Millis(3000)));
}

}  // namespace
}  // namespace backupd::testing
