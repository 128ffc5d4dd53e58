// test process (root): the workers' sandbox against the real daemon — the seccomp filter, the
// empty capability bounding set, stdio on /dev/null and RLIMIT_NPROC, read from /proc, and
// forbidden system calls made by a worker or a session child as a compromised one would.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

// The "Max processes" soft and hard limits of /proc/PID/limits, e.g. "0 0"; empty if absent.
std::string MaxProcesses(pid_t pid) {
  std::istringstream limits(ReadFile("/proc/" + std::to_string(pid) + "/limits").value_or(""));
  for (std::string line; std::getline(limits, line);) {
    if (line.rfind("Max processes", 0) != 0) continue;
    std::istringstream fields(line.substr(sizeof "Max processes" - 1));
    std::string soft, hard;
    fields >> soft >> hard;
    return soft + " " + hard;
  }
  return "";
}

// What every worker and session child must show in /proc: filter mode with `filters` filters
// stacked, no capability left to gain, stdout and stderr on /dev/null, and `nproc` processes.
void ExpectSandboxed(pid_t pid, const std::string& filters, const std::string& nproc) {
  SCOPED_TRACE("pid " + std::to_string(pid));
  EXPECT_EQ(ProcStatusField(pid, "Seccomp"), "2");
  EXPECT_EQ(ProcStatusField(pid, "Seccomp_filters"), filters);
  EXPECT_EQ(ProcStatusField(pid, "CapBnd"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(pid, "CapPrm"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(pid, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcLink(pid, "fd/1"), "/dev/null");
  EXPECT_EQ(ProcLink(pid, "fd/2"), "/dev/null");
  EXPECT_EQ(MaxProcesses(pid), nproc);
}

using SandboxTest = DaemonTest;

TEST_F(SandboxTest, WorkersAndSessionChildrenAreFilteredWithoutCapabilitiesStdioOrForks) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  // Two generations of conf::kMaxWorkers workers, each with one session child (worker_main.cc),
  // unless the supervisor's hard limit is lower already (a worker can only lower it).
  const std::string supervisor = MaxProcesses(daemon_.pid());
  const std::string hard = supervisor.substr(supervisor.find(' ') + 1);
  const std::string nproc =
      hard != "unlimited" && std::stoull(hard) < 4096 ? hard + " " + hard : "4096 4096";
  for (pid_t w : *workers) ExpectSandboxed(w, "1", nproc);

  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(client.Call(41, Op::kBackup, "f", "forty-one"), kOk));
  std::vector<pid_t> children;
  ASSERT_TRUE(
      Eventually([&] { return (children = SessionChildren(daemon_)).size() == 1; }, Millis(3000)));
  // Its own filter stacked on its worker's; no fork at all.
  ExpectSandboxed(children[0], "2", "0 0");
  // And under both filters it still serves every operation.
  Result<Response> restored = client.Call(41, Op::kRestore, "f");
  ASSERT_TRUE(HasStatus(restored, kRestoreOk));
  EXPECT_EQ(restored->payload, "forty-one");
  EXPECT_TRUE(HasStatus(client.Call(41, Op::kList, ""), kListOk));
  EXPECT_TRUE(HasStatus(client.Call(41, Op::kDelete, "f"), kOk));
  EXPECT_EQ(daemon_.Log().find("SIGSYS"), std::string::npos) << daemon_.Log();
}

// Where the forbidden call is made and which one: the hook's "WHERE:CALL".
struct ForbiddenCallCase {
  const char* where;  // "worker" or "session"
  const char* call;   // execve, socket, ptrace, open
};

// With the forbidden-call hook armed (test builds only) for user 31, the process that gets user
// 31's folder makes the call; user 32 is served as ever.
class ForbiddenCallTest : public DaemonTest,
                          public ::testing::WithParamInterface<ForbiddenCallCase> {
 protected:
  void SetUp() override {
#ifndef BACKUPD_TEST_HOOKS
    GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
    const std::string hook = std::string(GetParam().where) + ":" + GetParam().call + ":31";
    // The daemon's processes inherit the environment it is started with.
    ::setenv("BACKUPD_TEST_FORBIDDEN_CALL", hook.c_str(), 1);
    DaemonTest::SetUp();
    ::unsetenv("BACKUPD_TEST_FORBIDDEN_CALL");
  }
};

TEST_P(ForbiddenCallTest, KillsTheProcessWithSigsysAndThePoolStillServes) {
  const bool in_worker = std::string(GetParam().where) == "worker";
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(before.ok()) << before.status().ToString();

  EXPECT_FALSE(HasStatus(CallOnce(31, Op::kBackup, "f", "never stored"), kOk));
  const std::string sigsys =
      "killed by signal 31 (SIGSYS, Bad system call): the syscall filter refused a call";
  ASSERT_TRUE(daemon_.WaitForLogLine({sigsys}, Millis(5000))) << daemon_.Log();
  const std::string log = daemon_.Log();
  EXPECT_EQ(log.find("survived the filter"), std::string::npos) << log;
  EXPECT_FALSE(PathExists(UserDir(31) + "/f"));

  if (in_worker) {
    // The supervisor names the worker, and forks a replacement.
    pid_t dead = -1;
    for (pid_t w : *before) {
      if (log.find("worker " + std::to_string(w) + " " + sigsys + "; starting a replacement") !=
          std::string::npos) {
        dead = w;
      }
    }
    ASSERT_GT(dead, 0) << log;
    std::vector<pid_t> now;
    EXPECT_TRUE(Eventually(
        [&] {
          Result<std::vector<pid_t>> w = daemon_.WaitForWorkers(3, Millis(100));
          if (!w.ok()) return false;
          now = *w;
          return std::find(now.begin(), now.end(), dead) == now.end();
        },
        Millis(5000)))
        << log;
  } else {
    // Its worker reports it, through the supervisor, and goes on serving.
    bool named = false;
    for (pid_t w : *before) {
      named = named ||
              log.find("worker " + std::to_string(w) + ": session child ") != std::string::npos;
    }
    EXPECT_TRUE(named) << log;
    EXPECT_EQ(log.find(sigsys + "; starting a replacement"), std::string::npos) << log;
    Result<std::vector<pid_t>> after = daemon_.WaitForWorkers(3, Millis(5000));
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(*after, *before) << "no worker died: only its session child";
  }

  ASSERT_TRUE(HasStatus(CallOnce(32, Op::kBackup, "g", "thirty-two"), kOk)) << daemon_.Log();
  Result<Response> restored = CallOnce(32, Op::kRestore, "g");
  ASSERT_TRUE(HasStatus(restored, kRestoreOk));
  EXPECT_EQ(restored->payload, "thirty-two");
}

INSTANTIATE_TEST_SUITE_P(
    SyscallFilter, ForbiddenCallTest,
    ::testing::Values(ForbiddenCallCase{"worker", "execve"}, ForbiddenCallCase{"worker", "socket"},
                      ForbiddenCallCase{"worker", "ptrace"}, ForbiddenCallCase{"worker", "open"},
                      ForbiddenCallCase{"session", "execve"},
                      ForbiddenCallCase{"session", "socket"},
                      ForbiddenCallCase{"session", "ptrace"}, ForbiddenCallCase{"session", "open"}),
    [](const ::testing::TestParamInfo<ForbiddenCallCase>& tested) {
      std::string name = std::string(tested.param.where) + "_" + tested.param.call;
      name[0] = static_cast<char>(::toupper(name[0]));
      return name;
    });

}  // namespace
}  // namespace backupd::testing
