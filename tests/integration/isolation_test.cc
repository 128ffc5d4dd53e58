// test process (root): per-user isolation against the real daemon — each connection with a
// user's folder is served by a session child of its worker that holds that folder and nothing else.
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

using IsolationTest = DaemonTest;

TEST_F(IsolationTest, AConnectionIsServedByAChildHoldingOnlyItsUsersFolder) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(client.Call(11, Op::kBackup, "f", "eleven"), kOk));

  std::vector<pid_t> children;
  ASSERT_TRUE(
      Eventually([&] { return (children = daemon_.SessionChildren()).size() == 1; }, Millis(3000)))
      << children.size() << " session children";
  const pid_t child = children[0];
  const std::string storage = std::filesystem::canonical(daemon_.storage()).string();
  EXPECT_EQ(ProcStatusField(child, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(child, "CapEff"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(child, "Uid").value_or("").rfind(std::to_string(NobodyUid()) + "\t", 0),
            0u);
  // The connection, the report pipe, user 11's folder: no listening socket, no storage folder.
  // The request's own handles on that folder are closed just after its answer, so the count is
  // polled until they are; a descriptor of anything else fails at once.
  int sockets = 0, pipes = 0, folders = 0;
  std::string all, unexpected;
  Eventually(
      [&] {
        sockets = pipes = folders = 0;
        all.clear();
        for (const auto& [fd, link] : ProcFds(child)) {
          all += std::to_string(fd) + " -> " + link + "\n";
          if (fd <= 2) continue;
          if (link.rfind("socket:[", 0) == 0) {
            ++sockets;
          } else if (link.rfind("pipe:[", 0) == 0) {
            ++pipes;
          } else if (link == storage + "/11") {
            ++folders;
          } else {
            unexpected += std::to_string(fd) + " -> " + link + "\n";
          }
        }
        return !unexpected.empty() || (sockets == 1 && pipes == 1 && folders == 1);
      },
      Millis(3000));
  EXPECT_EQ(unexpected, "");
  EXPECT_EQ(sockets, 1) << all;
  EXPECT_EQ(pipes, 1) << all;
  EXPECT_EQ(folders, 1) << all;

  // The child ends with its connection, and its worker goes back to accepting.
  client.Close();
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(child); }, Millis(3000)));
  EXPECT_TRUE(HasStatus(CallOnce(11, Op::kRestore, "f"), kRestoreOk));
}

TEST_F(IsolationTest, AV1ConnectionServesOnlyTheUserOfItsFirstRequest) {
  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(client.Call(12, Op::kBackup, "f", "twelve"), kOk));
  ASSERT_TRUE(HasStatus(CallOnce(13, Op::kBackup, "g", "thirteen"), kOk));
  EXPECT_TRUE(HasStatus(client.Call(13, Op::kRestore, "g"), kError));
  EXPECT_TRUE(HasStatus(client.Call(13, Op::kDelete, "g"), kError));
  EXPECT_EQ(ReadFile(UserDir(13) + "/g"), "thirteen");
  Result<Response> r = client.Call(12, Op::kRestore, "f");
  ASSERT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(r->payload, "twelve");
}

TEST_F(IsolationTest, AStopReachesSessionChildrenAndLeavesNone) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  RawClient idle;
  ASSERT_TRUE(idle.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(idle.Call(14, Op::kBackup, "f", "x"), kOk));
  std::vector<pid_t> children;
  ASSERT_TRUE(
      Eventually([&] { return (children = daemon_.SessionChildren()).size() == 1; }, Millis(3000)));
  // Well under idle_timeout: the worker passes the stop on to its child.
  Result<int> status = daemon_.Stop(Millis(4000));
  ASSERT_TRUE(status.ok()) << status.status().ToString();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << daemon_.Log();
  EXPECT_FALSE(ProcessAlive(children[0]));
  EXPECT_TRUE(idle.WaitClosed(Millis(1000)));
}

TEST_F(IsolationTest, AKilledWorkerTakesItsSessionChildWithIt) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(client.Call(15, Op::kBackup, "f", "x"), kOk));
  std::vector<pid_t> children;
  ASSERT_TRUE(
      Eventually([&] { return (children = daemon_.SessionChildren()).size() == 1; }, Millis(3000)));
  pid_t worker = -1;
  for (pid_t w : daemon_.Workers()) {
    if (!ChildrenOf(w).empty()) worker = w;
  }
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(children[0]); }, Millis(3000)));
  EXPECT_TRUE(client.WaitClosed(Millis(3000)));
}

// With the attack hook armed (test builds only), every session child first reaches for user 22's
// file from its own folder every way it can, and logs how each attempt ended.
class AttackTest : public DaemonTest {
 protected:
  // One worker: the one that served user 22 keeps that folder's descriptor (the hook's saved
  // descriptor) when it serves user 21.
  DaemonOptions Options() const override {
    DaemonOptions o;
    o.overrides = {"workers=1", "workers.max=1", "workers.min_spare=0", "workers.max_spare=1"};
    return o;
  }

  void SetUp() override {
#ifndef BACKUPD_TEST_HOOKS
    GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
    if (!KernelHasLandlock()) GTEST_SKIP() << "no Landlock: sessions fall back to chroot + openat2";
    // The daemon's processes inherit the environment it is started with.
    ::setenv("BACKUPD_TEST_ATTACK_USER", "22", 1);
    DaemonTest::SetUp();
    ::unsetenv("BACKUPD_TEST_ATTACK_USER");
  }

  // A user's folder as the workers would have made it, made here as root.
  void MakeUserFolder(uint32_t user) {
    ASSERT_EQ(::mkdir(UserDir(user).c_str(), 0700), 0);
    ASSERT_EQ(::chown(UserDir(user).c_str(), NobodyUid(), NogroupGid()), 0);
  }
};

TEST_F(AttackTest, ASessionForUserAReachesUserBsFileNoWay) {
  // User 22 first, so the worker has 22's folder to keep before it serves 21.
  ASSERT_TRUE(HasStatus(CallOnce(22, Op::kBackup, "file", "user 22's secret"), kOk));
  const std::string secret = UserDir(22) + "/file";
  const std::string folder22 = std::filesystem::canonical(UserDir(22)).string();
  EXPECT_TRUE(Eventually(
      [&] {
        for (pid_t w : daemon_.Workers()) {
          for (const auto& [fd, link] : ProcFds(w)) {
            if (link == folder22) return true;
          }
        }
        return false;
      },
      Millis(3000)))
      << "the worker kept no descriptor of user 22's folder to attack with";
  MakeUserFolder(21);
  const std::string planted = UserDir(21) + "/planted-link";
  ASSERT_EQ(::symlink("../22/file", planted.c_str()), 0);
  ASSERT_EQ(::lchown(planted.c_str(), NobodyUid(), NogroupGid()), 0);

  // User 21's session: the hook runs in its child before the first request is read.
  ASSERT_TRUE(HasStatus(CallOnce(21, Op::kBackup, "mine", "user 21's file"), kOk));
  const std::vector<std::string> attempts = {
      "dotdot",           "dotdot-write",     "list-folder",        "absolute-in-chroot",
      "absolute-real",    "proc-self-fd",     "proc-self-cwd",      "proc-self-root",
      "saved-descriptor", "every-descriptor", "openat2-unconfined", "chdir-out",
      "symlink-create",   "symlink-planted",  "hard-link",          "rename-in",
      "unlink",
  };
  ASSERT_TRUE(daemon_.WaitForLogLine({"test hook: " + attempts.back() + ":"}, Millis(3000)))
      << daemon_.Log();
  const std::string log = daemon_.Log();
  for (const std::string& a : attempts) {
    SCOPED_TRACE(a);
    EXPECT_NE(log.find("test hook: " + a + ": refused ("), std::string::npos) << log;
  }
  EXPECT_EQ(log.find(": REACHED"), std::string::npos) << log;

  // And nothing of it happened behind the answers' backs.
  EXPECT_EQ(ReadFile(secret), "user 22's secret");
  EXPECT_EQ(ListDir(UserDir(22)), std::vector<std::string>{"file"});
  for (const char* name : {"attack-link", "attack-hard", "attack-stolen"}) {
    EXPECT_FALSE(PathExists(UserDir(21) + "/" + name)) << name;
  }
  // The hook did not get in the way of the session itself.
  EXPECT_EQ(ReadFile(UserDir(21) + "/mine"), "user 21's file");
}

}  // namespace
}  // namespace backupd::testing
