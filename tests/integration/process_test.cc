// test process (root): the daemon's processes seen from /proc — workers' credentials and chroot,
// respawn of a killed worker, SIGTERM, and no descriptor leaking from the supervisor to a worker.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;

std::vector<std::string> Fields(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  std::string f;
  while (in >> f) out.push_back(f);
  return out;
}

std::string Describe(const std::vector<std::pair<int, std::string>>& fds) {
  std::string out;
  for (const auto& [fd, link] : fds) out += "  " + std::to_string(fd) + " -> " + link + "\n";
  return out;
}

using ProcessTest = DaemonTest;

TEST_F(ProcessTest, WorkersRunAsNobodyChrootedIntoAnEmptyFolder) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  const std::string nobody = std::to_string(NobodyUid());
  const std::string nogroup = std::to_string(NogroupGid());
  // Nothing in the workers' root, and no one but root can put anything there.
  struct stat st {};
  ASSERT_EQ(lstat(daemon_.WorkerRoot().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  EXPECT_TRUE(ListDir(daemon_.WorkerRoot()).empty());

  for (pid_t w : *workers) {
    SCOPED_TRACE("worker " + std::to_string(w));
    EXPECT_EQ(Fields(ProcStatusField(w, "Uid").value_or("")), std::vector<std::string>(4, nobody));
    EXPECT_EQ(Fields(ProcStatusField(w, "Gid").value_or("")), std::vector<std::string>(4, nogroup));
    std::vector<std::string> groups = Fields(ProcStatusField(w, "Groups").value_or("?"));
    EXPECT_TRUE(groups.empty() || groups == std::vector<std::string>{nogroup})
        << "supplementary groups: " << ProcStatusField(w, "Groups").value_or("?");
    EXPECT_EQ(ProcStatusField(w, "NoNewPrivs"), "1");
    EXPECT_EQ(ProcStatusField(w, "CapEff"), "0000000000000000");
    EXPECT_EQ(ProcStatusField(w, "CapPrm"), "0000000000000000");
    EXPECT_EQ(ProcLink(w, "root"), daemon_.WorkerRoot());
    EXPECT_EQ(ProcLink(w, "cwd"), daemon_.WorkerRoot());
  }
  // The supervisor stays root and unconfined; it owns the listening sockets, not the files.
  EXPECT_EQ(Fields(ProcStatusField(daemon_.pid(), "Uid").value_or("")),
            std::vector<std::string>(4, "0"));
  EXPECT_EQ(ProcLink(daemon_.pid(), "root"), "/");
  EXPECT_TRUE(OwnedByNobodyWithMode(daemon_.storage(), S_IFDIR, 0700));
}

TEST_F(ProcessTest, KilledWorkerIsReplaced) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const pid_t victim = before->front();
  ASSERT_EQ(kill(victim, SIGKILL), 0);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  Result<std::vector<pid_t>> after = Status::Timeout("not polled");
  do {
    after = daemon_.WaitForWorkers(3, Millis(100));
  } while ((!after.ok() || std::count(after->begin(), after->end(), victim) != 0) &&
           std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(std::count(after->begin(), after->end(), victim), 0) << "killed worker not replaced";
  EXPECT_TRUE(ProcessAlive(daemon_.pid()));

  for (uint32_t i = 0; i < 6; ++i) {
    const std::string content = "after respawn " + std::to_string(i);
    ASSERT_TRUE(HasStatus(CallOnce(9000 + i, Op::kBackup, "f", content), kOk));
    Result<Response> r = CallOnce(9000 + i, Op::kRestore, "f");
    ASSERT_TRUE(HasStatus(r, kRestoreOk));
    EXPECT_EQ(r->payload, content);
  }
}

// SIGTERM must leave no worker behind. The test process becomes a subreaper, so a worker the
// supervisor abandoned would be re-parented here instead of vanishing into init.
class StopTest : public DaemonTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    DaemonTest::SetUp();
  }

  void ExpectCleanExitAndNoOrphans(const std::vector<pid_t>& workers) {
    Result<int> status = daemon_.Stop(Millis(4000));
    ASSERT_TRUE(status.ok()) << status.status().ToString() << "; log:\n" << daemon_.Log();
    EXPECT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
    EXPECT_EQ(WEXITSTATUS(*status), 0) << daemon_.Log();
    for (pid_t w : workers) EXPECT_FALSE(ProcessAlive(w)) << "worker " << w << " outlived it";
    // Not even a zombie: an orphan re-parented to this subreaper would show up here.
    errno = 0;
    EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1) << "an orphaned worker was left behind";
    EXPECT_EQ(errno, ECHILD);
  }
};

TEST_F(StopTest, SigtermExitsZeroWithNoWorkerLeft) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  ExpectCleanExitAndNoOrphans(*workers);
}

TEST_F(StopTest, SigtermWithAnIdleClientConnectedStillExitsPromptly) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  RawClient idle;
  ASSERT_TRUE(idle.Connect(daemon_.port()).ok());
  // One answered request proves a worker holds this connection, waiting for the next request.
  ASSERT_TRUE(HasStatus(idle.Call(9100, Op::kBackup, "f", "x"), kOk));
  // Under idle_timeout (5 s): the stop must not wait for the client to go away.
  ExpectCleanExitAndNoOrphans(*workers);
}

class DescriptorTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override { return {{}, /*log_to_file=*/true}; }
};

// The inodes of every unix SOCK_SEQPACKET socket: a worker's monitor channel is one.
std::set<std::string> SeqpacketInodes() {
  std::set<std::string> inodes;
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // the column names
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, protocol, flags, type, state, inode;
    if (fields >> num >> refs >> protocol >> flags >> type >> state >> inode && type == "0005") {
      inodes.insert(inode);
    }
  }
  return inodes;
}

// Returns what is wrong with a worker's descriptors, or "" when it holds only what it needs:
// stdio, the listening socket(s), its report pipe, its monitor channel (and the odd anon inode
// such as an epoll it made itself) — no file or folder: neither the storage folder nor a user's.
std::string UnexpectedFds(pid_t worker, const std::set<std::string>& listen_sockets) {
  std::string problems;
  int pipes = 0;
  int channels = 0;
  const auto fds = ProcFds(worker);
  const std::set<std::string> seqpackets = SeqpacketInodes();
  for (const auto& [fd, link] : fds) {
    if (fd <= 2) continue;
    if (link.rfind("socket:[", 0) == 0) {
      std::string inode = link.substr(8, link.size() - 9);
      if (seqpackets.count(inode) != 0) {
        if (++channels > 1) problems += "more than one monitor channel: " + link + "\n";
      } else if (listen_sockets.count(inode) == 0) {
        problems += "not a listening socket: " + link + "\n";
      }
    } else if (link.rfind("pipe:[", 0) == 0) {
      if (++pipes > 1) problems += "more than one pipe: " + link + "\n";
    } else if (link == "anon_inode:[eventpoll]" || link == "anon_inode:[signalfd]" ||
               link == "anon_inode:[timerfd]" || link == "anon_inode:[eventfd]") {
      continue;
    } else {
      problems += "unexpected descriptor: " + std::to_string(fd) + " -> " + link + "\n";
    }
  }
  return problems.empty() ? "" : problems + "all descriptors:\n" + Describe(fds);
}

TEST_F(DescriptorTest, NoDescriptorLeaksIntoWorkers) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  // Serve a request first, so whatever a worker opens lazily is open too.
  ASSERT_TRUE(HasStatus(CallOnce(9200, Op::kBackup, "f", "x"), kOk));
  ASSERT_TRUE(HasStatus(CallOnce(9200, Op::kRestore, "f"), kRestoreOk));

  const std::vector<std::string> inodes = ListeningSocketInodes(daemon_.port());
  ASSERT_FALSE(inodes.empty()) << "no listening socket on port " << daemon_.port();
  const std::set<std::string> listen_sockets(inodes.begin(), inodes.end());
  const std::string log_file = std::filesystem::canonical(daemon_.log_file()).string();

  for (pid_t w : *workers) {
    SCOPED_TRACE("worker " + std::to_string(w));
    // The worker that served the requests may still be closing the client socket: poll.
    std::string problems;
    Eventually(
        [&] {
          problems = UnexpectedFds(w, listen_sockets);
          return problems.empty();
        },
        Millis(3000));
    EXPECT_EQ(problems, "");
    for (const auto& [fd, link] : ProcFds(w)) {
      EXPECT_NE(link, log_file) << "the supervisor's log file leaked as fd " << fd;
      EXPECT_EQ(link.find(daemon_.config_file()), std::string::npos) << "config leaked";
      EXPECT_EQ(link.find("backupd.pid"), std::string::npos) << "pid file leaked";
    }
  }
}

// Started by an ordinary user, backupd cannot chroot or change uid: it says so and still serves,
// with the workers under that user's uid and UserDir's openat2 confinement.
TEST(UnprivilegedDaemonTest, WarnsAndServesWithWorkersAsItsOwnUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to start the daemon as nobody";
  Daemon daemon;
  DaemonOptions options;
  options.as_nobody = true;
  Status started = daemon.Start(options);
  ASSERT_TRUE(started.ok()) << started.ToString() << "\n" << daemon.Log();
  EXPECT_TRUE(
      daemon.WaitForLogLine({"warning", "not started as root", "not chrooted"}, Millis(5000)))
      << daemon.Log();

  const std::string nobody = std::to_string(NobodyUid());
  EXPECT_EQ(Fields(ProcStatusField(daemon.pid(), "Uid").value_or("")),
            std::vector<std::string>(4, nobody));
  ASSERT_TRUE(Eventually([&] { return daemon.Workers().size() == 3; }, Millis(5000)))
      << daemon.Log();
  std::vector<pid_t> workers = daemon.Workers();
  for (pid_t w : workers) {
    SCOPED_TRACE("worker " + std::to_string(w));
    EXPECT_EQ(Fields(ProcStatusField(w, "Uid").value_or("")), std::vector<std::string>(4, nobody));
    EXPECT_EQ(ProcLink(w, "root"), "/");
  }

  RawClient client;
  ASSERT_TRUE(client.Connect(daemon.port()).ok());
  Result<Response> backup = client.Call(5, Op::kBackup, "a/b.txt", "unprivileged");
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_EQ(backup->status, 212);
  EXPECT_EQ(ReadFile(daemon.storage() + "/5/a/b.txt"), "unprivileged");
  Result<Response> escape = client.Call(5, Op::kRestore, "../../backupd.conf");
  ASSERT_TRUE(escape.ok()) << escape.status().ToString();
  EXPECT_EQ(escape->status, 1003);
}

}  // namespace
}  // namespace backupd::testing
