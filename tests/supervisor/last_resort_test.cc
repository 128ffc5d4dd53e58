// test process (root): what the programs do when the ground gives way — a kernel without openat2
// is refused at start and by -t, and an exception escaping main() becomes one line on stderr (and
// in the daemon's log) and exit status 70, not std::terminate. The faults come from test hooks.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>

#include <string>

#include "base/escaped_exception.h"
#include "daemon/preflight.h"
#include "tests/harness/daemon_harness.h"

namespace backupd::testing {
namespace {

constexpr Millis kTimeout{15000};
constexpr char kEnv[] = "/usr/bin/env";

// A config for a daemon in `dir` that logs to `dir`/backupd.log.
std::string Config(const TempDir& dir) {
  return "listen = 127.0.0.1:0\n"
         "storage = " +
         dir.Sub("storage") +
         "\n"
         "user = nobody\n"
         "group = nogroup\n"
         "workers = 1\n"
         "log = " +
         dir.Sub("backupd.log") +
         "\n"
         "pid_file = " +
         dir.Sub("backupd.pid") +
         "\n"
         "status_socket = " +
         dir.Sub("backupd.status") + "\n";
}

class LastResortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (workers run as nobody)";
    ASSERT_TRUE(WriteFile(dir_.Sub("backupd.conf"), Config(dir_)));
  }
  TempDir dir_;
};

// The hooks exist only in a BACKUPD_TEST_HOOKS build (as in tests/run_all.sh).
#ifdef BACKUPD_TEST_HOOKS
TEST_F(LastResortTest, WithoutOpenat2TestConfigAndTheDaemonRefuseNamingTheKernelVersion) {
  const std::string hook = std::string(daemon::kNoOpenat2HookEnv) + "=1";
  const std::string conf = dir_.Sub("backupd.conf");
  ProgramResult checked = RunProgram({kEnv, hook, BackupdPath(), "-t", "-c", conf}, "/", kTimeout);
  EXPECT_EQ(checked.exit_code, 1) << checked.out << checked.err;
  EXPECT_EQ(checked.out, "");
  EXPECT_EQ(checked.err,
            "backupd: this kernel has no openat2 system call; backupd confines every file access "
            "with openat2 and needs Linux >= 5.6 (and a sandbox that allows openat2)\n");

  ProgramResult started = RunProgram({kEnv, hook, BackupdPath(), "-f", "-c", conf}, "/", kTimeout);
  EXPECT_FALSE(started.timed_out) << "it served instead of refusing";
  EXPECT_EQ(started.exit_code, 1) << started.out << started.err;
  EXPECT_EQ(started.err, checked.err);
  EXPECT_FALSE(PathExists(dir_.Sub("storage"))) << "it prepared storage before refusing";
  EXPECT_FALSE(PathExists(dir_.Sub("backupd.pid")));

  // The same config on this (openat2-capable) kernel is fine: the hook made the difference.
  ProgramResult real = RunProgram({BackupdPath(), "-t", "-c", conf}, "/", kTimeout);
  EXPECT_EQ(real.exit_code, 0) << real.out << real.err;
}

TEST_F(LastResortTest, AnExceptionEscapingTheDaemonIsOneLineOnStderrAndInTheLogAndExit70) {
  const std::string hook = std::string(kThrowHookEnv) + "=main:bad_alloc";
  ProgramResult r =
      RunProgram({kEnv, hook, BackupdPath(), "-f", "-c", dir_.Sub("backupd.conf")}, "/", kTimeout);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, kExitInternalError) << r.err;
  EXPECT_EQ(r.err, "backupd: internal error, stopping: out of memory (std::bad_alloc)\n");
  const std::string log = ReadFile(dir_.Sub("backupd.log")).value_or("");
  EXPECT_NE(log.find("error: internal error, stopping: out of memory (std::bad_alloc)"),
            std::string::npos)
      << log;
  // The stack unwound: what the daemon set up was taken down again.
  EXPECT_FALSE(PathExists(dir_.Sub("backupd.pid")));
}

TEST_F(LastResortTest, AnExceptionEscapingAWorkerIsReportedAndOnlyThatWorkerGoes) {
  // Every worker throws as it starts: each one's report reaches the log, each exits 70 as a
  // worker that died starting (throttled), and the supervisor stays up and stops cleanly.
  ASSERT_EQ(setenv(kThrowHookEnv, "worker:runtime_error", 1), 0);
  Daemon daemon;
  Status started = daemon.Start();
  unsetenv(kThrowHookEnv);
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_TRUE(
      daemon.WaitForLogLine({": internal error, exiting: thrown by the test hook"}, Millis(10000)))
      << daemon.Log();
  EXPECT_TRUE(daemon.WaitForLogLine({"exited with status 70 before serving"}, Millis(10000)))
      << daemon.Log();
  EXPECT_EQ(daemon.Log().find("backupd: internal error"), std::string::npos)
      << "a worker unwound into the supervisor's main()";
  Result<int> stopped = daemon.Stop(Millis(15000));
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_TRUE(WIFEXITED(*stopped) && WEXITSTATUS(*stopped) == 0) << *stopped;
}

TEST_F(LastResortTest, AnExceptionEscapingTheClientIsOneLineOnStderrAndExit70) {
  ProgramResult r = RunProgram({kEnv, std::string(kThrowHookEnv) + "=main:runtime_error",
                                BackupClientPath(), "--user", "1", "--protocol", "1", "list"},
                               "/", kTimeout);
  EXPECT_EQ(r.exit_code, kExitInternalError) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "backup-client: internal error: thrown by the test hook\n");

  r = RunProgram({kEnv, std::string(kThrowHookEnv) + "=main:int", BackupClientPath(), "--user", "1",
                  "--protocol", "1", "list"},
                 "/", kTimeout);
  EXPECT_EQ(r.exit_code, kExitInternalError) << r.err;
  EXPECT_EQ(r.err, "backup-client: internal error: an exception that is not a std::exception\n");
}
#endif

}  // namespace
}  // namespace backupd::testing
