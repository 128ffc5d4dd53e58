// test process (root): the GoogleTest fixture of the integration tests that log in over protocol
// v2 as one user registered with `backupd user add`, and the v2 statuses they share.
#ifndef BACKUPD_TESTS_INTEGRATION_V2_USER_TEST_H_
#define BACKUPD_TESTS_INTEGRATION_V2_USER_TEST_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/wire_v2.h"
#include "tests/harness/temp_dir.h"
#include "tests/harness/v2_client.h"
#include "tests/integration/daemon_test.h"

namespace backupd::testing {

inline constexpr uint16_t kV2Ok = static_cast<uint16_t>(protocol::v2::ResponseCode::kOk);
inline constexpr uint16_t kV2AuthOk = static_cast<uint16_t>(protocol::v2::ResponseCode::kAuthOk);
inline constexpr uint16_t kV2ListOk = static_cast<uint16_t>(protocol::v2::ResponseCode::kListOk);

// The user is registered before the daemon starts, since the daemon reads its users file then;
// the daemon gets that users file and a subclass's Settings().
class V2UserTest : public DaemonTest {
 protected:
  explicit V2UserTest(uint32_t user) : user_(user) {}

  virtual std::vector<std::string> Settings() const { return {}; }
  DaemonOptions Options() const override {
    DaemonOptions o{{"users_file=" + dir_.Sub("users")}};
    for (const std::string& s : Settings()) o.overrides.push_back(s);
    return o;
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    Result<std::string> secret =
        AddBackupdUser(user_, dir_.Sub("users"), dir_.Sub("none.pid"), dir_.path());
    ASSERT_TRUE(secret.ok()) << secret.status().ToString();
    secret_ = *secret;
    DaemonTest::SetUp();
  }
  // Whether SetUp left a running daemon to test (it neither skipped nor failed).
  static bool Started() { return !IsSkipped() && !HasFatalFailure(); }

  // `c` connected and logged in as the user.
  void LogIn(V2Client& c) {
    ASSERT_TRUE(c.Connect(daemon_.port()));
    ASSERT_EQ(c.Login(user_, secret_), kV2AuthOk) << daemon_.Log();
  }

  // Takes the user's lock (<uid>/.backupd-lock, nobody's, as the workers make it) into `lock`, as
  // another node's scrub or prune would hold it.
  void HoldUsersLock(UniqueFd& lock) {
    lock.reset(
        ::open((UserDir(user_) + "/.backupd-lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(lock.valid());
    ASSERT_EQ(::fchown(lock.get(), NobodyUid(), NogroupGid()), 0);
    ASSERT_EQ(::flock(lock.get(), LOCK_EX), 0);
  }
  // Whether a process whose command line holds every one of `words` is seen waiting in flock(2)
  // within `timeout`.
  static bool SeenWaitingInFlock(const std::vector<std::string>& words, Millis timeout) {
    return Eventually(
        [&] {
          std::optional<pid_t> pid = ProcessWith(words);
          return pid && InFlock(*pid);
        },
        timeout);
  }

  TempDir dir_;
  std::string secret_;

 private:
  const uint32_t user_;
};

// The same with `c_` logged in before each test.
class LoggedInV2UserTest : public V2UserTest {
 protected:
  using V2UserTest::V2UserTest;
  void SetUp() override {
    V2UserTest::SetUp();
    if (Started()) LogIn(c_);
  }

  V2Client c_;
};

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_INTEGRATION_V2_USER_TEST_H_
