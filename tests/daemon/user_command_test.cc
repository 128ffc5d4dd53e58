// Unit tests for `backupd user`: the printed secret logs in against the stored verifier, errors
// and exit codes, and the SIGHUP to a running daemon. Run in-process on a temp config.
#include "daemon/user_command.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "daemon/users_file.h"
#include "protocol/scram.h"
#include "tests/harness/daemon_harness.h"

namespace backupd::daemon {
namespace {

using testing::TempDir;
using testing::WriteFile;

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class UserCommandTest : public ::testing::Test {
 protected:
  UserCommandTest() {
    EXPECT_TRUE(WriteFile(conf_, "users_file = " + dir_.Sub("etc/users") +
                                     "\npid_file = " + dir_.Sub("backupd.pid") + "\n"));
  }
  Outcome User(std::vector<std::string> args) {
    args.push_back("-c");
    args.push_back(conf_);
    std::ostringstream out, err;
    int code = RunUserCommand(args, out, err);
    return {code, out.str(), err.str()};
  }
  // The last word of `out`: where `user add` and `user passwd` print the secret.
  static std::string LastWord(const std::string& out) {
    std::istringstream in(out);
    std::string word, last;
    while (in >> word) last = word;
    return last;
  }
  // A whole SCRAM exchange of `secret` against the verifier stored for `id`.
  bool LogsIn(uint32_t id, const std::string& secret) {
    Result<Users> users = LoadUsersFile(dir_.Sub("etc/users"));
    if (!users.ok() || users->count(id) == 0) return false;
    protocol::ScramClient client(std::to_string(id), secret, "clientnonce0123456789abc");
    Result<protocol::ScramServer> server = protocol::ScramServer::Start(*client.ClientFirst());
    Result<std::string> sf = server->ServerFirst(users->at(id), "servernonce0123456789xyz");
    Result<std::string> cf = client.ClientFinal(*sf);
    Result<std::string> fin = server->ServerFinal(*cf);
    return fin.ok() && client.VerifyServerFinal(*fin).ok();
  }

  TempDir dir_;
  std::string conf_ = dir_.Sub("backupd.conf");
};

TEST_F(UserCommandTest, AddPrintsASecretOnceThatLogsIn) {
  Outcome r = User({"add", "42"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string secret = LastWord(r.out);
  EXPECT_GE(secret.size(), 32u);  // 192 bits of base64url
  EXPECT_TRUE(LogsIn(42, secret));
  EXPECT_FALSE(LogsIn(42, secret + "x"));
  EXPECT_EQ(testing::ReadFile(dir_.Sub("etc/users"))->find(secret), std::string::npos);
  EXPECT_EQ(User({"list"}).out, "42\n");
}

TEST_F(UserCommandTest, PasswdReplacesTheSecretAndDelRemovesTheUser) {
  const std::string old_secret = LastWord(User({"add", "42"}).out);
  ASSERT_EQ(User({"add", "7"}).code, 0);
  Outcome r = User({"passwd", "42"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(LogsIn(42, LastWord(r.out)));
  EXPECT_FALSE(LogsIn(42, old_secret));
  EXPECT_EQ(User({"list"}).out, "7\n42\n");
  ASSERT_EQ(User({"del", "42"}).code, 0);
  EXPECT_EQ(User({"list"}).out, "7\n");
}

TEST_F(UserCommandTest, RefusesWithClearMessagesAndExitCodes) {
  ASSERT_EQ(User({"add", "42"}).code, 0);
  Outcome dup = User({"add", "42"});
  EXPECT_EQ(dup.code, 1);
  EXPECT_NE(dup.err.find("user 42 already exists"), std::string::npos) << dup.err;
  Outcome missing = User({"del", "43"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("no user 43"), std::string::npos) << missing.err;
  EXPECT_EQ(User({"passwd", "43"}).code, 1);
  for (const char* id : {"x", "4294967296", "0x10", "", "4 2"}) {
    Outcome r = User({"add", id});
    EXPECT_EQ(r.code, 1) << id;
    EXPECT_NE(r.err.find("user id must be decimal"), std::string::npos) << r.err;
  }
  EXPECT_EQ(User({}).code, 2);
  EXPECT_EQ(User({"frob"}).code, 2);
  EXPECT_EQ(User({"add"}).code, 2);
  EXPECT_EQ(User({"add", "1", "2"}).code, 2);
  EXPECT_EQ(User({"list", "1"}).code, 2);
  EXPECT_EQ(User({"add", "1", "--force"}).code, 2);
  EXPECT_EQ(User({"add", "-1"}).code, 2);  // an unknown option, as for any word starting with -
  EXPECT_EQ(User({"list"}).out, "42\n");   // nothing refused changed the file
}

TEST_F(UserCommandTest, SignalsARunningDaemonAndSaysSo) {
  // A process whose name is backupd: a copy of sleep, which SIGHUP ends.
  const std::string fake = dir_.Sub("backupd");
  ASSERT_EQ(::system(("cp /bin/sleep " + fake).c_str()), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::execl(fake.c_str(), "backupd", "30", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ASSERT_TRUE(WriteFile(dir_.Sub("backupd.pid"), std::to_string(pid) + "\n"));
  ASSERT_TRUE(testing::Eventually(
      [&] { return testing::ReadFile("/proc/" + std::to_string(pid) + "/comm") == "backupd\n"; },
      testing::Millis(5000)));
  Outcome r = User({"add", "42"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("sent SIGHUP to backupd (pid " + std::to_string(pid) + ")"),
            std::string::npos)
      << r.out;
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGHUP);
  EXPECT_TRUE(LogsIn(42, LastWord(r.out)));  // the secret is still the last word
}

}  // namespace
}  // namespace backupd::daemon
