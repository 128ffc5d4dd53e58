// test process (root): the storage folder the daemon makes — its last component only, 0700, owned
// by the worker user — and a reload that names a folder whose parent is missing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <string>

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

}  // namespace
}  // namespace backupd::testing
