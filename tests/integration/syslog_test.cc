// test process (root, for mount namespaces): with `log = syslog`, every line reaches a listening
// /dev/log, or else a fallback that says why — the real daemon, with /dev/log absent, stale or a
// socket the test reads, in a mount namespace of its own.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/harness/daemon_harness.h"

namespace backupd::testing {
namespace {

constexpr Millis kTimeout{10000};
const std::string kNoSyslog =
    "no syslog daemon listens on /dev/log (install rsyslog, or run under systemd); ";
const std::string kToFallbackFile = kNoSyslog + "logging to /var/log/backupd/backupd.log instead";
const std::string kToStderr = kNoSyslog + "logging to stderr instead";

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

bool EndsWith(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// The daemon's config with `log` left at its default, syslog.
std::string SyslogConfig(const TempDir& dir) {
  return "listen = 127.0.0.1:0\nstorage = " + dir.Sub("storage") +
         "\nuser = nobody\ngroup = nogroup\nworkers = 1\npid_file = " + dir.Sub("backupd.pid") +
         "\nstatus_socket = " + dir.Sub("backupd.status") + "\n";
}

class SyslogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: a mount namespace of the daemon's own";
  }
};

TEST_F(SyslogTest, ForegroundWithoutSyslogLogsToStderrAndItsFirstLineSaysWhy) {
  Daemon daemon;
  DaemonOptions options;
  options.dev_log = DevLog::kAbsent;
  Status s = daemon.Start(options);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::string err = daemon.Stderr();
  EXPECT_TRUE(EndsWith(FirstLine(err), "warning: " + kToStderr)) << err;
  EXPECT_TRUE(Contains(err, "info: listening on 127.0.0.1:" + std::to_string(daemon.port())));
  EXPECT_EQ(daemon.SyslogLog(), "");
}

TEST_F(SyslogTest, ForegroundWithSyslogSendsEveryLineErrorsIncludedToDevLog) {
  Daemon daemon;
  DaemonOptions options;
  options.dev_log = DevLog::kListening;
  Status s = daemon.Start(options);
  ASSERT_TRUE(s.ok()) << s.ToString();
  // <30>: facility daemon (3), severity info (6).
  EXPECT_TRUE(daemon.WaitForLogLine(
      {"<30>", "backupd: info: listening on 127.0.0.1:" + std::to_string(daemon.port())}, kTimeout))
      << daemon.SyslogLog();

  ASSERT_TRUE(WriteFile(daemon.config_file(), "workers = lots\n"));
  ASSERT_EQ(kill(daemon.pid(), SIGHUP), 0);
  // <27>: facility daemon (3), severity error (3).
  EXPECT_TRUE(daemon.WaitForLogLine({"<27>", "backupd: error: reload failed"}, kTimeout))
      << daemon.SyslogLog();
  EXPECT_EQ(daemon.Stderr(), "");
}

TEST_F(SyslogTest, SighupChecksForASyslogDaemonAgain) {
  Daemon daemon;
  DaemonOptions options;
  options.dev_log = DevLog::kListening;
  Status s = daemon.Start(options);
  ASSERT_TRUE(s.ok()) << s.ToString();

  ASSERT_TRUE(daemon.SetSyslogListening(false).ok());
  ASSERT_EQ(kill(daemon.pid(), SIGHUP), 0);
  EXPECT_TRUE(
      Eventually([&] { return Contains(daemon.Stderr(), "configuration reloaded"); }, kTimeout))
      << daemon.Log();
  EXPECT_TRUE(EndsWith(FirstLine(daemon.Stderr()), "warning: " + kToStderr)) << daemon.Stderr();
  EXPECT_FALSE(Contains(daemon.SyslogLog(), "configuration reloaded"));

  ASSERT_TRUE(daemon.SetSyslogListening(true).ok());
  ASSERT_EQ(kill(daemon.pid(), SIGHUP), 0);
  EXPECT_TRUE(
      Eventually([&] { return Contains(daemon.SyslogLog(), "configuration reloaded"); }, kTimeout))
      << daemon.Log();
  // The fallback's last word says where the log went.
  EXPECT_TRUE(Contains(daemon.Stderr(), "warning: logging to syslog from now on"))
      << daemon.Stderr();
}

TEST_F(SyslogTest, TestConfigWarnsAboutAStaleDevLogAndStillPasses) {
  TempDir dir;
  Result<PrivateMounts> mounts = MakePrivateMounts(dir.path());
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  // A socket file left behind by a syslog daemon that is gone: the path exists, nobody listens.
  Result<int> stale = BindDatagramSocket(mounts->dev + "/log");
  ASSERT_TRUE(stale.ok()) << stale.status().ToString();
  close(*stale);
  ASSERT_TRUE(WriteFile(dir.Sub("backupd.conf"), SyslogConfig(dir)));

  ProgramResult r = RunProgram({BackupdPath(), "-t", "-c", dir.Sub("backupd.conf")}, dir.path(),
                               kTimeout, *mounts);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "backupd: warning: " + kToFallbackFile + "\n");
  EXPECT_EQ(r.out, "backupd: configuration " + dir.Sub("backupd.conf") + " is OK\n");
  EXPECT_TRUE(ListDir(mounts->var_log).empty()) << "-t only checks";
}

TEST_F(SyslogTest, TestConfigIsQuietWhenASyslogDaemonListens) {
  TempDir dir;
  Result<PrivateMounts> mounts = MakePrivateMounts(dir.path());
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  Result<int> syslog = BindDatagramSocket(mounts->dev + "/log");
  ASSERT_TRUE(syslog.ok()) << syslog.status().ToString();
  ASSERT_TRUE(WriteFile(dir.Sub("backupd.conf"), SyslogConfig(dir)));

  ProgramResult r = RunProgram({BackupdPath(), "-t", "-c", dir.Sub("backupd.conf")}, dir.path(),
                               kTimeout, *mounts);
  close(*syslog);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(SyslogTest, DaemonWithoutSyslogWarnsBeforeDetachingAndLogsEveryLineToTheFallbackFile) {
  TempDir dir;
  Result<PrivateMounts> mounts = MakePrivateMounts(dir.path());
  ASSERT_TRUE(mounts.ok()) << mounts.status().ToString();
  const std::string conf = dir.Sub("backupd.conf");
  ASSERT_TRUE(WriteFile(conf, SyslogConfig(dir)));
  DetachedGuard guard;
  ASSERT_TRUE(guard.ok());

  ProgramResult run = RunProgram({BackupdPath(), "-c", conf}, "/", kTimeout, *mounts);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(run.err, "backupd: warning: " + kToFallbackFile + "\n");

  const std::string log = mounts->var_log + "/backupd/backupd.log";
  std::string text;
  ASSERT_TRUE(Eventually(
      [&] {
        text = ReadFile(log).value_or("");
        return Contains(text, "info: backupd ") && Contains(text, " started, storage ");
      },
      kTimeout))
      << text;
  const pid_t pid = static_cast<pid_t>(std::atol(ReadFile(dir.Sub("backupd.pid"))->c_str()));
  guard.pid = pid;
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(EndsWith(FirstLine(text), "warning: " + kToFallbackFile)) << text;
  // Lines of the detached daemon carry its own pid, not that of the parent that exited.
  EXPECT_TRUE(Contains(text, " backupd[" + std::to_string(pid) + "] info: backupd ")) << text;
  EXPECT_TRUE(Contains(text, "info: listening on 127.0.0.1:")) << text;
  struct stat st {};
  ASSERT_EQ(lstat((mounts->var_log + "/backupd").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  ASSERT_TRUE(WriteFile(conf, "workers = lots\n"));
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  EXPECT_TRUE(Eventually(
      [&] { return Contains(ReadFile(log).value_or(""), "error: reload failed"); }, kTimeout))
      << ReadFile(log).value_or("");

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int wstatus = 0;
  EXPECT_TRUE(Eventually([&] { return waitpid(pid, &wstatus, WNOHANG) == pid; }, kTimeout));
  guard.pid = -1;
  EXPECT_TRUE(EndsWith(ReadFile(log).value_or(""), "info: stopped\n"));
}

}  // namespace
}  // namespace backupd::testing
