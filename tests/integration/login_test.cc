// test process (root): protocol v2 logins through the real daemon's monitor — secrets from
// `backupd user add`, a raw v2 client (tests/harness/v2_client.h), user A fenced off from user B,
// SIGHUP picking up a new user, and legacy_v1 deciding who may still speak protocol v1.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "protocol/scram.h"
#include "protocol/wire_v2.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;
using std::chrono::seconds;

const Millis kTimeout{10000};

constexpr uint16_t Code(v2::ResponseCode c) { return static_cast<uint16_t>(c); }

// Users 101 and 102 registered with `backupd user add` before the daemon starts.
class LoginTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override {
    DaemonOptions o{{"users_file=" + users_file(), "legacy_v1=" + legacy_v1_}};
    o.overrides.insert(o.overrides.end(), extra_.begin(), extra_.end());
    return o;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    secret_101_ = AddUser(101, dir_.Sub("none.pid"));
    secret_102_ = AddUser(102, dir_.Sub("none.pid"));
    ASSERT_FALSE(secret_101_.empty());
    ASSERT_FALSE(secret_102_.empty());
    DaemonTest::SetUp();
  }

  std::string users_file() const { return dir_.Sub("users"); }

  // `backupd user add ID` with our users file; the secret it printed. With the daemon's pid
  // file, it also signals the daemon to reload.
  std::string AddUser(uint32_t id, const std::string& pid_file) {
    const std::string conf = dir_.Sub("user.conf");
    if (!WriteFile(conf, "users_file = " + users_file() + "\npid_file = " + pid_file + "\n")) {
      return "";
    }
    ProgramResult r = RunProgram({BackupdPath(), "user", "add", std::to_string(id), "-c", conf},
                                 dir_.path(), kTimeout);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out.substr(out.find_last_of(' ') + 1);
  }

  // A reload retires the old generation: once it is gone, every new connection is served by a
  // worker started after the reload.
  bool OldGenerationGone(const std::vector<pid_t>& old) const {
    return Eventually(
        [&] {
          for (pid_t w : daemon_.Workers()) {
            if (std::find(old.begin(), old.end(), w) != old.end()) return false;
          }
          return true;
        },
        kTimeout);
  }

  TempDir dir_;
  std::string legacy_v1_ = "loopback";
  std::vector<std::string> extra_;  // more -o settings, set before SetUp
  std::string secret_101_;
  std::string secret_102_;
};

TEST_F(LoginTest, ASecretFromUserAddLogsInAndItsFilesLandInItsFolder) {
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  ASSERT_EQ(c.Login(101, secret_101_), Code(v2::ResponseCode::kAuthOk)) << daemon_.Log();
  EXPECT_EQ(c.Backup(101, "notes.txt", "hello"), Code(v2::ResponseCode::kOk));
  EXPECT_EQ(ReadFile(UserDir(101) + "/notes.txt"), "hello");
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(101), S_IFDIR, 0700));
  EXPECT_TRUE(daemon_.WaitForLogLine({"user 101 logged in from 127.0.0.1:"}, kTimeout))
      << daemon_.Log();
}

TEST_F(LoginTest, UserACannotReachUserB) {
  V2Client b;
  ASSERT_TRUE(b.Connect(daemon_.port()));
  ASSERT_EQ(b.Login(102, secret_102_), Code(v2::ResponseCode::kAuthOk));
  ASSERT_EQ(b.Backup(102, "b.txt", "B's"), Code(v2::ResponseCode::kOk));

  V2Client a;
  ASSERT_TRUE(a.Connect(daemon_.port()));
  ASSERT_EQ(a.Login(101, secret_101_), Code(v2::ResponseCode::kAuthOk));
  EXPECT_EQ(a.Backup(102, "b.txt", "A's"), Code(v2::ResponseCode::kAuthRequired));
  EXPECT_EQ(ReadFile(UserDir(102) + "/b.txt"), "B's");
  // Nor with B's id but A's secret.
  V2Client a_as_b;
  ASSERT_TRUE(a_as_b.Connect(daemon_.port()));
  EXPECT_EQ(a_as_b.Login(102, secret_101_), Code(v2::ResponseCode::kAuthFailed));
}

TEST_F(LoginTest, WrongSecretAndUnknownUserFailAlikeAndAreLogged) {
  V2Client wrong;
  ASSERT_TRUE(wrong.Connect(daemon_.port()));
  EXPECT_EQ(wrong.Login(101, secret_102_), Code(v2::ResponseCode::kAuthFailed));
  V2Client unknown;
  ASSERT_TRUE(unknown.Connect(daemon_.port()));
  EXPECT_EQ(unknown.Login(4242, secret_101_), Code(v2::ResponseCode::kAuthFailed));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"authentication failed for user 101 from 127.0.0.1:"}, kTimeout));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"authentication failed for user 4242 from 127.0.0.1:"}, kTimeout));
  EXPECT_FALSE(PathExists(UserDir(4242)));
  // Access-log lines for the login steps, as for any request.
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"access ", "user=101", "op=auth-finish", "status=1014"}, kTimeout))
      << daemon_.Log();
  // The daemon keeps no secret in its log.
  EXPECT_EQ(daemon_.Log().find(secret_101_), std::string::npos);
}

TEST_F(LoginTest, UserAddSignalsTheDaemonWhichThenAdmitsTheNewUser) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, kTimeout);
  ASSERT_TRUE(before.ok());
  const std::string secret = AddUser(103, daemon_.dir() + "/backupd.pid");
  ASSERT_TRUE(daemon_.WaitForLogLine({"users reloaded: 3 from " + users_file()}, kTimeout))
      << daemon_.Log();
  ASSERT_TRUE(OldGenerationGone(*before));
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  EXPECT_EQ(c.Login(103, secret), Code(v2::ResponseCode::kAuthOk)) << daemon_.Log();
}

// A reload's SIGTERM reaching the worker between the login's two messages: the connection was
// accepted, so the login finishes and the request it was for is served; then the worker retires.
TEST_F(LoginTest, AReloadMidLoginStillServesTheLoginAndTheRequestAfterIt) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, kTimeout);
  ASSERT_TRUE(before.ok());
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  pid_t holder = -1;
  const uint16_t login = c.Login(101, secret_101_, [&] {
    holder = HolderOfConnection(*before, daemon_.port(), c.LocalAddress());
    ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
    // The old generation has its SIGTERM before this line is logged (daemon/reload.cc).
    ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, kTimeout));
  });
  ASSERT_NE(holder, -1) << "no worker of the first generation holds the connection";
  EXPECT_EQ(login, Code(v2::ResponseCode::kAuthOk)) << daemon_.Log();
  EXPECT_EQ(c.Backup(101, "mid-reload.txt", "kept"), Code(v2::ResponseCode::kOk));
  EXPECT_EQ(ReadFile(UserDir(101) + "/mid-reload.txt"), "kept");
  // Served what it came for, the retiring worker ends the connection and exits.
  EXPECT_EQ(c.Read().status, 0);
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(holder); }, kTimeout));
}

TEST_F(LoginTest, ABrokenUsersFileOnReloadKeepsThePreviousUsers) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, kTimeout);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(::chmod(users_file().c_str(), 0644), 0);
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"users not reloaded, keeping the previous ones"}, kTimeout))
      << daemon_.Log();
  ASSERT_TRUE(OldGenerationGone(*before));
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  EXPECT_EQ(c.Login(101, secret_101_), Code(v2::ResponseCode::kAuthOk));
}

TEST_F(LoginTest, V1FromLoopbackIsServedUnderLoopback) {
  EXPECT_TRUE(HasStatus(CallOnce(7, protocol::Op::kBackup, "v1.txt", "one"), kOk));
  EXPECT_EQ(ReadFile(UserDir(7) + "/v1.txt"), "one");
}

// Timeouts far longer than the stop's grace, so that only the grace can end the wait.
class SlowLoginTest : public LoginTest {
 protected:
  SlowLoginTest() { extra_ = {"idle_timeout=60", "header_timeout=60"}; }
};

// The attacker's side of the grace above: a client that stops in the middle of its login while
// its worker retires holds that worker kStopGrace (5 s), not header_timeout.
TEST_F(SlowLoginTest, AClientSilentMidLoginHoldsARetiringWorkerOnlyForTheStopsGrace) {
  Result<std::vector<pid_t>> before = daemon_.WaitForWorkers(3, kTimeout);
  ASSERT_TRUE(before.ok());
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  protocol::ScramClient scram("101", secret_101_, "clientnonceclientnonce");
  ASSERT_TRUE(c.Send(v2::EncodeAuthRequest(101, v2::Op::kAuthStart, *scram.ClientFirst())));
  ASSERT_EQ(c.Read().status, Code(v2::ResponseCode::kAuthContinue));
  const pid_t holder = HolderOfConnection(*before, daemon_.port(), c.LocalAddress());
  ASSERT_NE(holder, -1);
  ASSERT_EQ(::kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, kTimeout));
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(holder); }, Millis(30000)));
  const auto held = std::chrono::steady_clock::now() - stopped;
  EXPECT_GE(held, std::chrono::seconds(4)) << "the grace was not given";
  EXPECT_LT(held, std::chrono::seconds(15)) << "held for the login's timeouts, not the grace";
}

class LegacyV1OffTest : public LoginTest {
 protected:
  LegacyV1OffTest() { legacy_v1_ = "off"; }
};

TEST_F(LegacyV1OffTest, V1IsRefusedWith1003AndTheReasonIsLogged) {
  EXPECT_TRUE(HasStatus(CallOnce(7, protocol::Op::kBackup, "v1.txt", "one"), kError));
  EXPECT_FALSE(PathExists(UserDir(7)));
  EXPECT_TRUE(daemon_.WaitForLogLine({"v1 refused from 127.0.0.1: legacy_v1 = off"}, kTimeout))
      << daemon_.Log();
  // Version 2 still works.
  V2Client c;
  ASSERT_TRUE(c.Connect(daemon_.port()));
  EXPECT_EQ(c.Login(101, secret_101_), Code(v2::ResponseCode::kAuthOk));
}

}  // namespace
}  // namespace backupd::testing
