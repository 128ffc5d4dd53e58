// tests (root for the credential cases, any user otherwise): the status socket served by
// ScoreboardServer and read by PrintScoreboard over a real unix socket in a temporary folder.
#include "daemon/scoreboard_server.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/harness/daemon_harness.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/scoreboard_client.h"
#include "daemon/scoreboard_text.h"

namespace backupd::daemon {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::seconds;

constexpr gid_t kNoGroup = static_cast<gid_t>(-1);
constexpr uid_t kNobody = 65534;
constexpr gid_t kStatusGroup = 4242;  // a group no test user belongs to by accident

using testing::TempDir;

Scoreboard Board() {
  Scoreboard b;
  b.supervisor_pid = 77;
  b.started_at = std::chrono::system_clock::from_time_t(1714564800);
  b.started = Clock::time_point(seconds(50));
  WorkerSlot w;
  w.pid = 78;
  w.state = ipc::WorkerState::kBusy;
  w.peer = "192.0.2.9:1234";
  b.workers[78] = std::move(w);
  return b;
}

const Clock::time_point kNow = Clock::time_point(seconds(80));

// Serves `server` until `done()` or a 10 s deadline; false on the deadline.
bool ServeUntil(ScoreboardServer& server, const Scoreboard& board,
                const std::function<bool()>& done) {
  Clock::time_point deadline = Clock::now() + seconds(10);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    struct pollfd p = {server.fd(), POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) server.ServePending(board, kNow);
  }
  return true;
}

struct ClientResult {
  int rc = -1;
  std::string out;
  std::string err;
};

ClientResult RoundTrip(ScoreboardServer& server, const Scoreboard& board) {
  ClientResult r;
  std::atomic<bool> finished{false};
  std::thread client([&] {
    std::ostringstream out, err;
    r.rc = PrintScoreboard(server.path(), out, err);
    r.out = out.str();
    r.err = err.str();
    finished = true;
  });
  bool served = ServeUntil(server, board, [&] { return finished.load(); });
  client.join();
  EXPECT_TRUE(served);
  return r;
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST(ScoreboardServer, RoundTripPrintsTheRenderedTable) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();

  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_GE(server->fd(), 0);
  EXPECT_EQ(::fcntl(server->fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(server->fd(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);

  Scoreboard board = Board();
  ClientResult r = RoundTrip(*server, board);
  EXPECT_EQ(r.rc, kExitRunning) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out, RenderScoreboard(board, kNow));
  EXPECT_NE(r.out.find("192.0.2.9:1234"), std::string::npos);

  // A second client on the same server is served too.
  r = RoundTrip(*server, board);
  EXPECT_EQ(r.rc, kExitRunning) << r.err;
}

TEST(ScoreboardServer, GroupGetsMode0660AndOwnership) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give the socket to another group";
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kStatusGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, kStatusGroup);
}

TEST(ScoreboardServer, RefusesToReplaceARegularFile) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  { std::ofstream(path) << "precious\n"; }
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), Status::Code::kDenied);
  EXPECT_NE(server.status().message().find("not a socket"), std::string::npos);
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "precious");
}

TEST(ScoreboardServer, ReplacesAStaleSocketAndUnlinksItsOwnOnDestruction) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  // A socket file left behind by a process that died.
  int stale = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(stale);
  {
    std::ostringstream out, err;
    EXPECT_EQ(PrintScoreboard(path, out, err), kExitNotRunning);
    EXPECT_NE(err.str().find("Connection refused (is it running?)"), std::string::npos)
        << err.str();
  }
  {
    Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
    ASSERT_TRUE(server.ok()) << server.status().message();
    ScoreboardServer moved = std::move(*server);
    EXPECT_EQ(server->fd(), -1);
    EXPECT_TRUE(Exists(path));
    ClientResult r = RoundTrip(moved, Board());
    EXPECT_EQ(r.rc, kExitRunning) << r.err;
  }
  EXPECT_FALSE(Exists(path));
}

TEST(ScoreboardServer, CloseLeavesAReplacementAlone) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();
  ASSERT_EQ(::unlink(path.c_str()), 0);
  { std::ofstream(path) << "someone else's\n"; }
  server->Close();
  EXPECT_EQ(server->fd(), -1);
  EXPECT_TRUE(Exists(path));
}

TEST(ScoreboardServer, AForkedChildDoesNotUnlinkTheSocket) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    server->Close();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(Exists(path));
}

TEST(ScoreboardServer, AClientThatDoesNotReadCannotBlockTheServer) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();
  Scoreboard board;
  // About 15 MB of table: more than any socket buffer the server may get.
  for (pid_t pid = 1; pid <= 100000; ++pid) {
    WorkerSlot w;
    w.pid = pid;
    w.peer = std::string(60, 'p');
    board.workers[pid] = std::move(w);
  }
  std::string table = RenderScoreboard(board, kNow);

  int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, path.size());
  ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  // The connection is pending when connect() returns; the call below must not wait for us.
  server->ServePending(board, kNow);

  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(c, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(c);
  EXPECT_LT(got.size(), table.size());
  EXPECT_EQ(got, table.substr(0, got.size()));
}

TEST(PrintScoreboard, NoSocketMeansNotRunning) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  std::ostringstream out, err;
  EXPECT_EQ(PrintScoreboard(path, out, err), kExitNotRunning);
  EXPECT_EQ(out.str(), "");
  EXPECT_EQ(err.str(), "backupd: cannot reach backupd at " + path +
                           ": No such file or directory (is it running?)\n");
}

TEST(PrintScoreboard, GivesUpOnASilentServer) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string path = dir.path() + "/status.sock";
  // Listening but never served: the connection waits in the backlog.
  Result<ScoreboardServer> server = ScoreboardServer::Listen(path, kNoGroup);
  ASSERT_TRUE(server.ok()) << server.status().message();
  std::ostringstream out, err;
  Clock::time_point start = Clock::now();
  EXPECT_EQ(PrintScoreboard(path, out, err, std::chrono::milliseconds(200)), kExitError);
  EXPECT_LT(Clock::now() - start, seconds(5));
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("no complete answer"), std::string::npos) << err.str();
}

TEST(MayReadStatus, RootSelfOrGroupMembersOnly) {
  const uid_t self = 1000;
  PeerCredentials root{0, 0, {}};
  PeerCredentials me{self, 1000, {}};
  PeerCredentials other{1001, 1001, {27, 100}};
  PeerCredentials primary{1002, 4242, {}};
  PeerCredentials supplementary{1003, 1003, {100, 4242}};
  EXPECT_TRUE(MayReadStatus(root, kNoGroup, self));
  EXPECT_TRUE(MayReadStatus(me, kNoGroup, self));
  EXPECT_FALSE(MayReadStatus(other, kNoGroup, self));
  EXPECT_FALSE(MayReadStatus(primary, kNoGroup, self));
  EXPECT_FALSE(MayReadStatus(other, 4242, self));
  EXPECT_TRUE(MayReadStatus(primary, 4242, self));
  EXPECT_TRUE(MayReadStatus(supplementary, 4242, self));
}

// Runs PrintScoreboard in a child with the given credentials, against a socket anyone may connect
// to, so the peer check alone decides. Returns the child's PrintScoreboard code (or 100+ on setup
// failure); the child's stderr text lands in `*err`.
int StatusAs(ScoreboardServer& server, const Scoreboard& board, gid_t gid,
             const std::vector<gid_t>& groups, std::string* out_text, std::string* err_text) {
  int pipes[2][2];
  if (::pipe2(pipes[0], O_CLOEXEC) != 0 || ::pipe2(pipes[1], O_CLOEXEC) != 0) return 101;
  pid_t pid = ::fork();
  if (pid < 0) return 102;
  if (pid == 0) {
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(kNobody, kNobody, kNobody) != 0) {
      ::_exit(103);
    }
    std::ostringstream out, err;
    int rc = PrintScoreboard(server.path(), out, err);
    std::string o = out.str(), e = err.str();
    bool written = ::write(pipes[0][1], o.data(), o.size()) == static_cast<ssize_t>(o.size()) &&
                   ::write(pipes[1][1], e.data(), e.size()) == static_cast<ssize_t>(e.size());
    ::_exit(written ? rc : 104);
  }
  ::close(pipes[0][1]);
  ::close(pipes[1][1]);
  int status = 0;
  bool served = ServeUntil(server, board, [&] { return ::waitpid(pid, &status, WNOHANG) == pid; });
  EXPECT_TRUE(served);
  if (!served) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  for (int i = 0; i < 2; ++i) {
    std::string& text = i == 0 ? *out_text : *err_text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipes[i][0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    ::close(pipes[i][0]);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 105;
}

class ScoreboardServerAsRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as other users";
    ASSERT_FALSE(dir_.path().empty());
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    path_ = dir_.path() + "/status.sock";
    Result<ScoreboardServer> server = ScoreboardServer::Listen(path_, kStatusGroup);
    ASSERT_TRUE(server.ok()) << server.status().message();
    server_ = std::make_unique<ScoreboardServer>(std::move(*server));
    // Only the credential check stands between another user and the table now.
    ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<ScoreboardServer> server_;
  Scoreboard board_ = Board();
};

TEST_F(ScoreboardServerAsRoot, AnotherUserGetsNoAnswer) {
  std::string out, err;
  EXPECT_EQ(StatusAs(*server_, board_, kNobody, {}, &out, &err), kExitError);
  EXPECT_EQ(out, "");
  EXPECT_NE(err.find("closed the connection without answering"), std::string::npos) << err;
}

TEST_F(ScoreboardServerAsRoot, AMemberOfTheStatusGroupIsServed) {
  std::string out, err;
  EXPECT_EQ(StatusAs(*server_, board_, kNobody, {kStatusGroup}, &out, &err), kExitRunning) << err;
  EXPECT_EQ(out, RenderScoreboard(board_, kNow));
}

TEST_F(ScoreboardServerAsRoot, PrimaryGroupCounts) {
  std::string out, err;
  EXPECT_EQ(StatusAs(*server_, board_, kStatusGroup, {}, &out, &err), kExitRunning) << err;
  EXPECT_EQ(out, RenderScoreboard(board_, kNow));
}

}  // namespace
}  // namespace backupd::daemon
