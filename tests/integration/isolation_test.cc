// test process (root): per-user isolation against the real daemon — each connection with a
// user's folder is served by a session child of its worker that holds that folder and nothing else.
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

using IsolationTest = DaemonTest;

// The session children of the daemon's workers (grandchildren of the supervisor).
std::vector<pid_t> SessionChildren(const Daemon& daemon) {
  std::vector<pid_t> out;
  for (pid_t w : daemon.Workers()) {
    for (pid_t c : ChildrenOf(w)) out.push_back(c);
  }
  return out;
}

TEST_F(IsolationTest, AConnectionIsServedByAChildHoldingOnlyItsUsersFolder) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  RawClient client;
  ASSERT_TRUE(client.Connect(daemon_.port()).ok());
  ASSERT_TRUE(HasStatus(client.Call(11, Op::kBackup, "f", "eleven"), kOk));

  std::vector<pid_t> children;
  ASSERT_TRUE(
      Eventually([&] { return (children = SessionChildren(daemon_)).size() == 1; }, Millis(3000)))
      << children.size() << " session children";
  const pid_t child = children[0];
  const std::string storage = std::filesystem::canonical(daemon_.storage()).string();
  EXPECT_EQ(ProcStatusField(child, "NoNewPrivs"), "1");
  EXPECT_EQ(ProcStatusField(child, "CapEff"), "0000000000000000");
  EXPECT_EQ(ProcStatusField(child, "Uid").value_or("").rfind(std::to_string(NobodyUid()) + "\t", 0),
            0u);
  int sockets = 0, pipes = 0, folders = 0;
  std::string all;
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
      ADD_FAILURE() << "unexpected descriptor " << fd << " -> " << link;
    }
  }
  // The connection, the report pipe, user 11's folder: no listening socket, no storage folder.
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
      Eventually([&] { return (children = SessionChildren(daemon_)).size() == 1; }, Millis(3000)));
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
      Eventually([&] { return (children = SessionChildren(daemon_)).size() == 1; }, Millis(3000)));
  pid_t worker = -1;
  for (pid_t w : daemon_.Workers()) {
    if (!ChildrenOf(w).empty()) worker = w;
  }
  ASSERT_GT(worker, 0);
  ASSERT_EQ(::kill(worker, SIGKILL), 0);
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(children[0]); }, Millis(3000)));
  EXPECT_TRUE(client.WaitClosed(Millis(3000)));
}

}  // namespace
}  // namespace backupd::testing
