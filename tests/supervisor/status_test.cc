// test process (root): what an operator reads — `backupd status`, `backupd -t`, the metrics file.
#include <signal.h>
#include <sys/wait.h>

#include <set>
#include <string>
#include <vector>

#include "tests/supervisor/supervisor_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

constexpr uint16_t kNotFound = 1001;

using StatusTest = SupervisorTest;

TEST_F(StatusTest, StatusCommandListsEveryWorkerAndWhichOneIsBusy) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  StatusReport report;
  // The workers report idle over their pipe a moment after /proc shows them confined.
  EXPECT_TRUE(Eventually(
      [&] {
        report = RunStatus(daemon_.config_file());
        size_t idle = 0;
        for (const StatusRow& row : report.rows) idle += row.state == "idle";
        return idle == 3;
      },
      Millis(3000)))
      << report.text;
  EXPECT_EQ(report.exit_code, 0) << report.text;
  EXPECT_EQ(report.supervisor, daemon_.pid()) << report.text;
  EXPECT_EQ(report.generation, 1u) << report.text;
  std::set<pid_t> listed;
  for (const StatusRow& row : report.rows) listed.insert(row.pid);
  EXPECT_EQ(listed, std::set<pid_t>(workers->begin(), workers->end())) << report.text;

  const uint32_t user = 6201;
  UploadInFlight upload;
  Status s = StartUpload(daemon_, UserDir(user), user, "watched", RandomBytes(4u << 20, 62),
                         1u << 20, &upload);
  ASSERT_TRUE(s.ok()) << s.ToString();
  report = RunStatus(daemon_.config_file());
  bool busy_listed = false;
  for (const StatusRow& row : report.rows) {
    if (row.pid == upload.worker) busy_listed = row.state == "busy";
  }
  EXPECT_TRUE(busy_listed) << "worker " << upload.worker << " is uploading:\n" << report.text;
  EXPECT_NE(report.text.find("backup"), std::string::npos) << report.text;
  EXPECT_TRUE(HasStatus(upload.Finish(), kOk));
}

TEST_F(StatusTest, TestConfigAcceptsTheRunningConfigAndNamesTheLineOfABadOne) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  const std::string pid_text = ReadFile(daemon_.dir() + "/backupd.pid").value_or("");

  ProgramResult good =
      RunProgram({BackupdPath(), "-t", "-c", daemon_.config_file()}, "/", Millis(5000));
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;

  const std::string bad = daemon_.dir() + "/bad.conf";
  std::string text = ReadFile(daemon_.config_file()).value_or("");
  size_t third = text.find('\n', text.find('\n') + 1) + 1;
  text.insert(third, "workers = lots\n");
  ASSERT_TRUE(WriteFile(bad, text));
  ProgramResult broken = RunProgram({BackupdPath(), "-t", "-c", bad}, "/", Millis(5000));
  EXPECT_EQ(broken.exit_code, 1) << broken.out << broken.err;
  EXPECT_NE(broken.err.find(bad + ":3"), std::string::npos) << broken.err;
  EXPECT_NE(broken.err.find("workers"), std::string::npos) << broken.err;

  // Checking touched nothing of the running instance.
  EXPECT_EQ(daemon_.Workers().size(), 3u);
  EXPECT_EQ(ReadFile(daemon_.dir() + "/backupd.pid").value_or(""), pid_text);
  EXPECT_TRUE(ProcessAlive(daemon_.pid()));
}

class MetricsTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override { return {{"metrics_file=" + Path()}}; }
  std::string Path() const { return daemon_.dir() + "/m.prom"; }
};

TEST_F(MetricsTest, MetricsFileIsPrometheusTextAndCountsRequests) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  EXPECT_TRUE(Eventually([&] { return PathExists(Path()); }, Millis(6000)))
      << "no metrics file within 6 s";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(HasStatus(CallOnce(6301, Op::kBackup, "m" + std::to_string(i), "x"), kOk));
  }
  ASSERT_TRUE(HasStatus(CallOnce(6301, Op::kRestore, "absent"), kNotFound));

  std::string text;
  Result<std::map<std::string, double>> samples = Status::Invalid("not read");
  EXPECT_TRUE(Eventually(
      [&] {
        text = ReadFile(Path()).value_or("");
        samples = ParsePrometheus(text);
        return samples.ok() &&
               samples->count("backupd_requests_total{op=\"backup\",status=\"212\"}") != 0 &&
               samples->count("backupd_requests_total{op=\"restore\",status=\"1001\"}") != 0;
      },
      Millis(7000)))
      << (samples.ok() ? "" : samples.status().ToString()) << "\n"
      << text;
  ASSERT_TRUE(samples.ok()) << samples.status().ToString();
  std::map<std::string, double>& m = *samples;
  EXPECT_EQ(m["backupd_requests_total{op=\"backup\",status=\"212\"}"], 3);
  EXPECT_EQ(m["backupd_requests_total{op=\"restore\",status=\"1001\"}"], 1);
  EXPECT_EQ(m["backupd_workers{state=\"idle\"}"] + m["backupd_workers{state=\"busy\"}"] +
                m["backupd_workers{state=\"starting\"}"],
            3);
  EXPECT_GE(m["backupd_worker_starts_total"], 3);
  EXPECT_EQ(m.count("backupd_throttles_total"), 1u);
  EXPECT_GE(m["backupd_bytes_received_total"], 3);
  // Written atomically: the writer's temp file does not linger beside it.
  EXPECT_TRUE(Eventually(
      [&] {
        for (const std::string& name : ListDir(daemon_.dir())) {
          if (name.rfind("m.prom.", 0) == 0) return false;
        }
        return true;
      },
      Millis(1000)));
}

TEST_F(MetricsTest, ACleanStopRemovesTheMetricsFileSoNoStaleValuesAreServed) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  ASSERT_TRUE(Eventually([&] { return PathExists(Path()); }, Millis(6000)))
      << "no metrics file within 6 s";
  Result<int> wstatus = daemon_.Stop(Millis(10000));  // SIGTERM
  ASSERT_TRUE(wstatus.ok()) << wstatus.status().ToString();
  EXPECT_TRUE(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0) << "wait status " << *wstatus;
  EXPECT_FALSE(PathExists(Path())) << ReadFile(Path()).value_or("");
}

using MetricsReloadTest = SupervisorTest;

TEST_F(MetricsReloadTest, ASighupMovingTheMetricsFileRemovesTheOldOne) {
  const std::string old_path = daemon_.dir() + "/old.prom";
  const std::string new_path = daemon_.dir() + "/new.prom";
  const std::string text = ReadFile(daemon_.config_file()).value_or("");
  ASSERT_TRUE(WriteFile(daemon_.config_file(), text + "metrics_file = " + old_path + "\n"));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(Eventually([&] { return PathExists(old_path); }, Millis(12000))) << daemon_.Log();

  ASSERT_TRUE(WriteFile(daemon_.config_file(), text + "metrics_file = " + new_path + "\n"));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 3)"}, Millis(3000)))
      << daemon_.Log();
  EXPECT_FALSE(PathExists(old_path)) << "the old file would be served forever";
  EXPECT_TRUE(Eventually([&] { return PathExists(new_path); }, Millis(12000))) << daemon_.Log();
}

}  // namespace
}  // namespace backupd::testing
