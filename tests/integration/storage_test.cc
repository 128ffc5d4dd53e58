// test process (root): the storage folder the daemon makes — its last component only, 0700, owned
// by the worker user —, a reload that names a folder whose parent is missing, and the temp file of
// a session child killed mid-upload, removed by the user's next upload.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

constexpr Millis kTimeout{10000};

using StorageTest = DaemonTest;

TEST_F(StorageTest, TheLastComponentIsCreatedOwnedByTheWorkerUser) {
  EXPECT_TRUE(OwnedByNobodyWithMode(daemon_.storage(), S_IFDIR, 0700));
  struct stat st {};
  ASSERT_EQ(lstat(daemon_.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the existing parent is left as it was";
}

TEST_F(StorageTest, ReloadRefusesAStorageWhoseParentIsMissingAndCreatesNothing) {
  const std::string storage = daemon_.dir() + "/missing/parent/storage";
  std::string conf = ReadFile(daemon_.config_file()).value_or("");
  const std::string line = "storage = " + daemon_.storage() + "\n";
  ASSERT_NE(conf.find(line), std::string::npos) << conf;
  conf.replace(conf.find(line), line.size(), "storage = " + storage + "\n");
  ASSERT_TRUE(WriteFile(daemon_.config_file(), conf));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  EXPECT_TRUE(daemon_.WaitForLogLine(
      {"error: reload failed, still serving with the previous configuration: storage " + storage +
       ": parent folder " + daemon_.dir() +
       "/missing/parent does not exist; create it or fix "
       "'storage'"},
      kTimeout))
      << daemon_.Log();
  EXPECT_FALSE(PathExists(daemon_.dir() + "/missing"));
}

TEST_F(StorageTest, ATempFileOfASessionKilledMidUploadGoesAtTheUsersNextUploadElsewhere) {
  const uint32_t user = 31;
  ASSERT_TRUE(HasStatus(CallOnce(user, protocol::Op::kBackup, "keep", "kept"), kOk));
  const std::string folder = UserDir(user) + "/deep/er";
  RawClient uploader;
  ASSERT_TRUE(uploader.Connect(daemon_.port()).ok());
  ASSERT_TRUE(uploader
                  .Send(RequestBytes(user, protocol::Op::kBackup, "deep/er/big", 1 << 20) +
                        std::string(1000, 'x'))
                  .ok());
  auto temps = [&] {
    std::vector<std::string> out;
    for (std::string& name : ListDir(folder)) {
      if (name.rfind(".backupd-tmp-", 0) == 0) out.push_back(std::move(name));
    }
    return out;
  };
  ASSERT_TRUE(Eventually([&] { return temps().size() == 1; }, kTimeout));
  // The first upload's session child may still be on its way out on a busy machine.
  std::vector<pid_t> children;
  ASSERT_TRUE(Eventually(
      [&] {
        children = daemon_.SessionChildren();
        return children.size() == 1;
      },
      kTimeout));
  // Killed, it unlinks nothing: the temp file and its record stay. The next upload tells a dead
  // writer by kill(pid, 0) failing with ESRCH, which a zombie does not yet: wait for its worker to
  // have reaped it (it logs the signal after waitpid), or that upload may rightly keep the files.
  ASSERT_EQ(::kill(children[0], SIGKILL), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine(
      {"session child " + std::to_string(children[0]) + " killed by signal 9"}, kTimeout))
      << daemon_.Log();
  EXPECT_EQ(temps().size(), 1u);
  EXPECT_EQ(ListDir(UserDir(user) + "/.backupd-uploads").size(), 1u);

  ASSERT_TRUE(HasStatus(CallOnce(user, protocol::Op::kBackup, "other", "y"), kOk));
  EXPECT_TRUE(temps().empty());
  EXPECT_EQ(ListDir(folder).size(), 0u);
  EXPECT_FALSE(PathExists(UserDir(user) + "/.backupd-uploads"));
  Result<Response> list = CallOnce(user, protocol::Op::kList, "");
  ASSERT_TRUE(HasStatus(list, kListOk));
  EXPECT_EQ(list->payload, "keep\nother\n");
}

}  // namespace
}  // namespace backupd::testing
