// test process (root): the supervisor's lifecycle — SIGHUP reloads (broken and valid), SIGTERM's
// graceful stop, SIGUSR1's log reopening, the pid file, and running detached as a daemon.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/supervisor/supervisor_test.h"

namespace backupd::testing {
namespace {

using protocol::Op;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kNoFiles = 1002;

// Replaces the first `from` in the file with `to`; false if it is not there.
bool EditFile(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = ReadFile(path).value_or("");
  size_t at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  return WriteFile(path, text);
}

std::set<pid_t> AsSet(const std::vector<pid_t>& v) { return {v.begin(), v.end()}; }

// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
std::string StatField(pid_t pid, int n) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat").value_or("");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return "";
  std::istringstream in(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= n && (in >> field); ++i) {
  }
  return field;
}

// The backlog of each IPv4 TCP socket listening on `port`, as the kernel holds it (after capping at
// somaxconn). sock_diag reports it as a listener's idiag_wqueue — what `ss -ltn` shows as Send-Q;
// /proc/net/tcp has no column for it.
std::vector<uint32_t> ListenBacklogs(uint16_t port) {
  std::vector<uint32_t> out;
  UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl.valid()) return out;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } query{};
  query.header.nlmsg_len = sizeof query;
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  query.request.sdiag_family = AF_INET;
  query.request.sdiag_protocol = IPPROTO_TCP;
  query.request.idiag_states = 1u << TCP_LISTEN;
  if (send(nl.get(), &query, sizeof query, 0) != static_cast<ssize_t>(sizeof query)) return out;
  alignas(nlmsghdr) char buffer[16384];
  for (;;) {
    ssize_t n = recv(nl.get(), buffer, sizeof buffer, 0);
    if (n <= 0) return out;
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return out;
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (ntohs(msg->id.idiag_sport) == port) out.push_back(msg->idiag_wqueue);
    }
  }
}

// What listen(2) grants for `backlog`: at most net.core.somaxconn.
uint32_t Granted(uint32_t backlog) {
  std::string somaxconn = ReadFile("/proc/sys/net/core/somaxconn").value_or("");
  uint32_t cap = static_cast<uint32_t>(std::strtoul(somaxconn.c_str(), nullptr, 10));
  return cap == 0 ? backlog : std::min(backlog, cap);
}

using ReloadTest = SupervisorTest;

TEST_F(ReloadTest, SighupWithAChangedListenBacklogAppliesItToTheSameSocket) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  const std::vector<std::string> sockets = ListeningSocketInodes(daemon_.port());
  ASSERT_EQ(ListenBacklogs(daemon_.port()), std::vector<uint32_t>{Granted(4096)});

  const std::string text = ReadFile(daemon_.config_file()).value_or("");
  ASSERT_TRUE(WriteFile(daemon_.config_file(), text + "listen_backlog = 200\n"));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, Millis(3000)))
      << daemon_.Log();
  EXPECT_EQ(ListenBacklogs(daemon_.port()), std::vector<uint32_t>{Granted(200)});
  EXPECT_EQ(ListeningSocketInodes(daemon_.port()), sockets) << "rebound instead of re-listening";
  EXPECT_TRUE(HasStatus(CallOnce(5611, Op::kBackup, "after", "reload"), kOk));
}

TEST_F(ReloadTest, SighupWithABrokenConfigKeepsServingTheSameGeneration) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  // `backupd status` reads the config too: it gets an unbroken copy.
  const std::string good = daemon_.dir() + "/good.conf";
  const std::string text = ReadFile(daemon_.config_file()).value_or("");
  ASSERT_TRUE(WriteFile(good, text));
  ASSERT_TRUE(WriteFile(daemon_.config_file(), text + "no_such_key = 1\n"));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  EXPECT_TRUE(daemon_.WaitForLogLine({"reload failed", "no_such_key"}, Millis(3000)))
      << daemon_.Log();

  EXPECT_TRUE(HasStatus(CallOnce(5601, Op::kBackup, "still", "serving"), kOk));
  EXPECT_EQ(AsSet(daemon_.Workers()), AsSet(*workers)) << "the workers were replaced";
  StatusReport status = RunStatus(good);
  EXPECT_EQ(status.exit_code, 0) << status.text;
  EXPECT_EQ(status.rows.size(), 3u) << status.text;
  EXPECT_EQ(status.generation, 1u) << status.text;
  for (const StatusRow& row : status.rows) EXPECT_EQ(row.generation, 1u) << status.text;
  EXPECT_EQ(daemon_.Log().find("configuration reloaded"), std::string::npos);
}

class BigReloadTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override { return {{"max_file_size=128M"}}; }
};

TEST_F(BigReloadTest, SighupAppliesAValidChangeWhileAHundredMiBUploadCompletes) {
  Result<std::vector<pid_t>> old_workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(old_workers.ok()) << old_workers.status().ToString();
  const std::vector<std::string> sockets = ListeningSocketInodes(daemon_.port());
  ASSERT_FALSE(sockets.empty());
  const uint32_t user = 5701;
  UploadInFlight upload;
  Status s = StartUpload(daemon_, UserDir(user), user, "hundred", RandomBytes(100u << 20, 57),
                         30u << 20, &upload);
  ASSERT_TRUE(s.ok()) << s.ToString();

  ASSERT_TRUE(EditFile(daemon_.config_file(), "workers = 3\n", "workers = 4\n"));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, Millis(3000)))
      << daemon_.Log();

  // Four new-generation workers serve beside the old one finishing the upload.
  StatusReport status;
  EXPECT_TRUE(Eventually(
      [&] {
        status = RunStatus(daemon_.config_file());
        size_t fresh = 0;
        bool old_busy = false;
        for (const StatusRow& row : status.rows) {
          if (row.generation == 2 && row.state == "idle") ++fresh;
          if (row.pid == upload.worker && row.generation == 1) old_busy = true;
        }
        return status.generation == 2 && fresh == 4 && old_busy;
      },
      Millis(5000)))
      << status.text;
  EXPECT_TRUE(HasStatus(CallOnce(5702, Op::kBackup, "during", "reload"), kOk));
  for (pid_t w : *old_workers) {
    if (w == upload.worker) continue;
    EXPECT_TRUE(Eventually([&] { return !ProcessAlive(w); }, Millis(3000)))
        << "idle old-generation worker " << w << " did not exit";
  }
  EXPECT_TRUE(ProcessAlive(upload.worker)) << "the old worker quit in the middle of the upload";

  Result<Response> r = upload.Finish();
  EXPECT_TRUE(HasStatus(r, kOk));
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(upload.worker); }, Millis(3000)))
      << "the old worker lingers after its upload";

  std::optional<std::string> stored = ReadFile(UserDir(user) + "/hundred");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->size(), upload.payload.size());
  EXPECT_TRUE(*stored == upload.payload) << "the stored file differs from what was sent";
  stored.reset();

  RawClient restore;
  ASSERT_TRUE(restore.Connect(daemon_.port()).ok());
  ASSERT_TRUE(restore.Send(RequestBytes(user, Op::kRestore, "hundred")).ok());
  size_t offset = 0;
  bool same = true;
  r = restore.ReadResponseStreaming(
      [&](std::string_view chunk) {
        same = same && upload.payload.compare(offset, chunk.size(), chunk) == 0;
        offset += chunk.size();
      },
      Millis(30000));
  EXPECT_TRUE(HasStatus(r, kRestoreOk));
  EXPECT_EQ(offset, upload.payload.size());
  EXPECT_TRUE(same) << "restore returned other bytes";
  EXPECT_EQ(ListeningSocketInodes(daemon_.port()), sockets) << "the listener changed on reload";
}

class GracefulStopTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override { return {{"shutdown_timeout=10"}}; }
};

TEST_F(GracefulStopTest, SigtermLetsAnUploadFinishThenExitsZeroWithNoChildLeft) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, Millis(5000));
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  const uint32_t user = 5801;
  UploadInFlight upload;
  Status s = StartUpload(daemon_, UserDir(user), user, "closing", RandomBytes(16u << 20, 58),
                         4u << 20, &upload);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::string pid_file = daemon_.dir() + "/backupd.pid";
  ASSERT_TRUE(PathExists(pid_file));

  const auto term_at = Clock::now();
  ASSERT_EQ(kill(daemon_.pid(), SIGTERM), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"stopping: letting requests finish"}, Millis(2000)));
  // The idle workers go at once; ours stays for its request.
  for (pid_t w : *workers) {
    if (w == upload.worker) continue;
    EXPECT_TRUE(Eventually([&] { return !ProcessAlive(w); }, Millis(2000))) << "worker " << w;
  }
  EXPECT_TRUE(HasStatus(upload.Finish(), kOk));

  Result<int> wstatus = daemon_.Stop(Millis(10000));
  ASSERT_TRUE(wstatus.ok()) << wstatus.status().ToString();
  EXPECT_LT(Clock::now() - term_at, std::chrono::seconds(10)) << "waited for shutdown_timeout";
  EXPECT_TRUE(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0) << "wait status " << *wstatus;
  for (pid_t w : *workers) EXPECT_FALSE(ProcessAlive(w)) << "worker " << w << " outlived it";
  EXPECT_FALSE(ProcessAlive(upload.worker));
  EXPECT_FALSE(PathExists(pid_file));
  EXPECT_TRUE(ReadFile(UserDir(user) + "/closing") == upload.payload);
  EXPECT_FALSE(HasTempFile(UserDir(user)));
}

class LogFileTest : public SupervisorTest {
 protected:
  DaemonOptions Options() const override {
    DaemonOptions o;
    o.log_to_file = true;
    return o;
  }
};

TEST_F(LogFileTest, Sigusr1AfterMovingTheLogWritesANewOne) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  ASSERT_TRUE(HasStatus(CallOnce(5901, Op::kList, ""), kNoFiles));
  ASSERT_TRUE(daemon_.WaitForLogLine({"user=5901"}, Millis(2000)));
  const std::string rotated = daemon_.log_file() + ".1";
  ASSERT_EQ(rename(daemon_.log_file().c_str(), rotated.c_str()), 0);
  ASSERT_EQ(kill(daemon_.pid(), SIGUSR1), 0);

  EXPECT_TRUE(Eventually([&] { return PathExists(daemon_.log_file()); }, Millis(3000)))
      << "no new log file after SIGUSR1";
  ASSERT_TRUE(HasStatus(CallOnce(5902, Op::kList, ""), kNoFiles));
  EXPECT_TRUE(Eventually(
      [&] {
        return ReadFile(daemon_.log_file()).value_or("").find("user=5902") != std::string::npos;
      },
      Millis(3000)))
      << "new log file:\n"
      << ReadFile(daemon_.log_file()).value_or("(none)");
  EXPECT_NE(ReadFile(daemon_.log_file()).value_or("").find("log reopened"), std::string::npos);
  std::string old_log = ReadFile(rotated).value_or("");
  EXPECT_NE(old_log.find("user=5901"), std::string::npos);
  EXPECT_EQ(old_log.find("user=5902"), std::string::npos) << "still writing the moved file";
}

TEST_F(LogFileTest, Sigusr1ThatCannotReopenTheLogSaysSoAndNotThatItReopened) {
  ASSERT_TRUE(daemon_.WaitForWorkers(3, Millis(5000)).ok());
  const std::string rotated = daemon_.log_file() + ".1";
  ASSERT_EQ(rename(daemon_.log_file().c_str(), rotated.c_str()), 0);
  // Root may open any file, but no one opens a folder for writing.
  ASSERT_EQ(mkdir(daemon_.log_file().c_str(), 0700), 0);
  ASSERT_EQ(kill(daemon_.pid(), SIGUSR1), 0);

  // The previous log stays in use; a request logged after the signal marks the turn as done.
  std::string old_log;
  EXPECT_TRUE(Eventually(
      [&] {
        old_log = ReadFile(rotated).value_or("");
        return old_log.find("cannot reopen the log") != std::string::npos;
      },
      Millis(3000)))
      << old_log;
  ASSERT_TRUE(HasStatus(CallOnce(5903, Op::kList, ""), kNoFiles));
  EXPECT_TRUE(Eventually(
      [&] {
        old_log = ReadFile(rotated).value_or("");
        return old_log.find("user=5903") != std::string::npos;
      },
      Millis(3000)))
      << old_log;
  EXPECT_EQ(old_log.find("log reopened"), std::string::npos) << old_log;
}

using PidFileTest = SupervisorTest;

TEST_F(PidFileTest, PidFileNamesTheSupervisorRefusesASecondDaemonAndGoesOnExit) {
  const std::string pid_file = daemon_.dir() + "/backupd.pid";
  ASSERT_TRUE(Eventually([&] { return PathExists(pid_file); }, Millis(2000)));
  EXPECT_EQ(ReadFile(pid_file), std::to_string(daemon_.pid()) + "\n");

  ProgramResult second =
      RunProgram({BackupdPath(), "-f", "-c", daemon_.config_file()}, "/", Millis(5000));
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find(std::to_string(daemon_.pid())), std::string::npos) << second.err;
  EXPECT_EQ(ReadFile(pid_file), std::to_string(daemon_.pid()) + "\n");
  EXPECT_TRUE(HasStatus(CallOnce(6001, Op::kList, ""), kNoFiles));

  Result<int> wstatus = daemon_.Stop(Millis(5000));
  ASSERT_TRUE(wstatus.ok()) << wstatus.status().ToString();
  EXPECT_TRUE(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0);
  EXPECT_FALSE(PathExists(pid_file));
}

TEST(PidFileStaleTest, APidFileNamingAnotherProgramDoesNotBlockTheStart) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  Daemon daemon;
  const std::string pid_file = daemon.dir() + "/backupd.pid";
  // Alive, but not a backupd: a pid reused after a crash.
  ASSERT_TRUE(WriteFile(pid_file, std::to_string(getpid()) + "\n"));
  Status s = daemon.Start();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Eventually([&] { return ReadFile(pid_file) == std::to_string(daemon.pid()) + "\n"; },
                         Millis(2000)));
}

TEST(PidFileEarlyExitTest, AFailureAfterThePidFileWasWrittenRemovesIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
  TempDir dir;
  const std::string conf = dir.Sub("backupd.conf");
  const std::string pid_file = dir.Sub("backupd.pid");
  // The status socket is set up after the pid file is written; a regular file in its place
  // makes that fail.
  const std::string not_a_socket = dir.Sub("backupd.status");
  ASSERT_TRUE(WriteFile(not_a_socket, "keep me\n"));
  ASSERT_TRUE(WriteFile(conf, "listen = 127.0.0.1:0\nstorage = " + dir.Sub("storage") +
                                  "\nuser = nobody\ngroup = nogroup\nworkers = 1\nlog = stderr\n" +
                                  "pid_file = " + pid_file + "\nstatus_socket = " + not_a_socket +
                                  "\n"));
  ProgramResult run = RunProgram({BackupdPath(), "-f", "-c", conf}, "/", Millis(5000));
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_NE(run.err.find("refusing to replace"), std::string::npos) << run.err;
  EXPECT_FALSE(PathExists(pid_file)) << "the early exit left the pid file behind";
  EXPECT_EQ(ReadFile(not_a_socket), "keep me\n");
}

// An init script may reload or stop the daemon the moment it says "listening on". Those signals
// must be acted on, not kill a half-started daemon: they are blocked before the first bind, so
// they wait for the loop. Several rounds, because the window they once fell into was short.
TEST(EarlySignalTest, SighupAndSigtermRightAfterListeningAreHandledNotFatal) {
  for (int round = 0; round < 5; ++round) {
    Daemon reloaded;
    ASSERT_TRUE(reloaded.Start().ok());
    ASSERT_EQ(kill(reloaded.pid(), SIGHUP), 0);
    EXPECT_TRUE(reloaded.WaitForLogLine({"configuration reloaded"}, Millis(10000)))
        << reloaded.Log();
    RawClient client;
    ASSERT_TRUE(client.Connect(reloaded.port()).ok());
    EXPECT_TRUE(HasStatus(client.Call(6002, Op::kList, ""), kNoFiles));

    Daemon stopped;
    ASSERT_TRUE(stopped.Start().ok());
    Result<int> wstatus = stopped.Stop(Millis(10000));
    ASSERT_TRUE(wstatus.ok()) << wstatus.status().ToString();
    EXPECT_TRUE(WIFEXITED(*wstatus) && WEXITSTATUS(*wstatus) == 0)
        << "wait status " << *wstatus << "\n"
        << stopped.Log();
  }
}

TEST(DaemonModeTest, WithoutForegroundItDetachesAndSigtermStopsIt) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
  TempDir dir;
  const std::string conf = dir.Sub("backupd.conf");
  const std::string pid_file = dir.Sub("backupd.pid");
  const std::string log = dir.Sub("backupd.log");
  ASSERT_TRUE(WriteFile(conf, "listen = 127.0.0.1:0\nstorage = " + dir.Sub("storage") +
                                  "\nuser = nobody\ngroup = nogroup\nworkers = 2\nlog = " + log +
                                  "\nlog_level = debug\npid_file = " + pid_file +
                                  "\nstatus_socket = " + dir.Sub("backupd.status") + "\n"));
  // The detached daemon is re-parented to us, not to init, so we can check and reap it.
  DetachedGuard guard;
  ASSERT_TRUE(guard.ok());
  const auto started = Clock::now();
  ProgramResult run = RunProgram({BackupdPath(), "-c", conf}, "/", Millis(5000));
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err << ReadFile(log).value_or("");
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(3));

  ASSERT_TRUE(Eventually([&] { return PathExists(pid_file); }, Millis(3000)))
      << ReadFile(log).value_or("");
  const pid_t pid = static_cast<pid_t>(std::atol(ReadFile(pid_file).value_or("0").c_str()));
  guard.pid = pid;
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(ProcessAlive(pid));
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(pid) + "/comm"), "backupd\n");
  EXPECT_EQ(StatField(pid, 4), std::to_string(getpid())) << "not re-parented: not detached";
  EXPECT_EQ(StatField(pid, 6), std::to_string(pid)) << "not a session leader (setsid)";
  EXPECT_EQ(ProcLink(pid, "cwd"), "/");
  for (int fd = 0; fd <= 2; ++fd) EXPECT_EQ(ProcLink(pid, "fd/" + std::to_string(fd)), "/dev/null");

  // It serves: the port is in its log.
  std::string text;
  ASSERT_TRUE(Eventually(
      [&] {
        text = ReadFile(log).value_or("");
        return text.find("listening on 127.0.0.1:") != std::string::npos;
      },
      Millis(3000)));
  const size_t at = text.find("listening on 127.0.0.1:") + 23;
  const auto port = static_cast<uint16_t>(std::atoi(text.c_str() + at));
  std::vector<pid_t> workers;
  EXPECT_TRUE(Eventually(
      [&] {
        workers = ChildrenOf(pid);
        return workers.size() == 2;
      },
      Millis(5000)));
  RawClient client;
  ASSERT_TRUE(client.Connect(port).ok());
  EXPECT_TRUE(HasStatus(client.Call(6101, Op::kList, ""), kNoFiles));
  client.Close();

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int wstatus = 0;
  EXPECT_TRUE(Eventually([&] { return waitpid(pid, &wstatus, WNOHANG) == pid; }, Millis(5000)))
      << "SIGTERM did not stop the daemon";
  guard.pid = -1;
  EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << "wait status " << wstatus;
  EXPECT_FALSE(PathExists(pid_file));
  for (pid_t w : workers) EXPECT_FALSE(ProcessAlive(w)) << "worker " << w << " outlived it";
}

}  // namespace
}  // namespace backupd::testing
