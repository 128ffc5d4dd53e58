// test process (root): the GoogleTest fixture that gives each integration test its own backupd.
#ifndef BACKUPD_TESTS_INTEGRATION_DAEMON_TEST_H_
#define BACKUPD_TESTS_INTEGRATION_DAEMON_TEST_H_

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "protocol/wire.h"
#include "tests/harness/daemon_harness.h"
#include "tests/harness/raw_client.h"

namespace backupd::testing {

// The six statuses of protocol v1, as the wire carries them.
inline constexpr uint16_t kRestoreOk = static_cast<uint16_t>(protocol::ResponseCode::kRestoreOk);
inline constexpr uint16_t kListOk = static_cast<uint16_t>(protocol::ResponseCode::kListOk);
inline constexpr uint16_t kOk = static_cast<uint16_t>(protocol::ResponseCode::kOk);
inline constexpr uint16_t kNotFound = static_cast<uint16_t>(protocol::ResponseCode::kNotFound);
inline constexpr uint16_t kNoFiles = static_cast<uint16_t>(protocol::ResponseCode::kNoFiles);
inline constexpr uint16_t kError = static_cast<uint16_t>(protocol::ResponseCode::kError);

// The session children of the daemon's workers (grandchildren of the supervisor).
inline std::vector<pid_t> SessionChildren(const Daemon& daemon) {
  std::vector<pid_t> out;
  for (pid_t w : daemon.Workers()) {
    for (pid_t c : ChildrenOf(w)) out.push_back(c);
  }
  return out;
}

// Starts a daemon (as root, workers as nobody) before each test; a subclass changes Options().
class DaemonTest : public ::testing::Test {
 protected:
  virtual DaemonOptions Options() const { return {}; }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    Status s = daemon_.Start(Options());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string UserDir(uint32_t user_id) const {
    return daemon_.storage() + "/" + std::to_string(user_id);
  }

  // One request on a fresh connection.
  Result<Response> CallOnce(uint32_t user_id, protocol::Op op, std::string_view name,
                            std::string_view payload = {}) {
    RawClient client;
    Status s = client.Connect(daemon_.port());
    if (!s.ok()) return s;
    return client.Call(user_id, op, name, payload);
  }

  // Sends raw request bytes on a fresh connection and reads one response.
  Result<Response> SendRawOnce(std::string_view bytes) {
    RawClient client;
    Status s = client.Connect(daemon_.port());
    if (!s.ok()) return s;
    s = client.Send(bytes);
    if (!s.ok()) return s;
    return client.ReadResponse();
  }

  // The user folders in storage: its entries but the server's own `.backupd-*` (the workers'
  // empty root).
  std::vector<std::string> UserFolders() const {
    std::vector<std::string> out;
    for (std::string& name : ListDir(daemon_.storage())) {
      if (name.rfind(protocol::kReservedPrefix, 0) != 0) out.push_back(std::move(name));
    }
    return out;
  }

  Daemon daemon_;
};

// Checks that `path` is a `type` (S_IFDIR, S_IFREG) with permission bits `mode` owned by nobody.
inline ::testing::AssertionResult OwnedByNobodyWithMode(const std::string& path, mode_t type,
                                                        mode_t mode) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ::testing::AssertionFailure() << path << " missing";
  if ((st.st_mode & S_IFMT) != type) {
    return ::testing::AssertionFailure()
           << path << " has type " << std::oct << (st.st_mode & S_IFMT);
  }
  if ((st.st_mode & 07777) != mode) {
    return ::testing::AssertionFailure()
           << path << " has mode " << std::oct << (st.st_mode & 07777) << ", want " << mode;
  }
  if (st.st_uid != NobodyUid()) {
    return ::testing::AssertionFailure() << path << " owned by uid " << st.st_uid;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace backupd::testing

#endif  // BACKUPD_TESTS_INTEGRATION_DAEMON_TEST_H_
