// test process (any user): the pid file guard — written with our pid, removed on every way out of
// its scope, and never when it no longer names us.
#include "daemon/process.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "tests/harness/daemon_harness.h"

namespace backupd::daemon {
namespace {

using testing::PathExists;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const std::string kOurPid = std::to_string(::getpid()) + "\n";

// main()'s shape: a step after the pid file fails and returns early.
int StartThenFail(const std::string& pid_path, bool* written) {
  Result<PidFile> pid_file = PidFile::Write(pid_path);
  if (!pid_file.ok()) return 2;
  *written = ReadFile(pid_path) == kOurPid;
  Status later = Status::IoError("mmap peer table: Cannot allocate memory");
  if (!later.ok()) return 1;
  return 0;
}

TEST(PidFileGuardTest, AnEarlyReturnAfterWritingItRemovesIt) {
  TempDir dir;
  const std::string path = dir.Sub("backupd.pid");
  bool written = false;
  EXPECT_EQ(StartThenFail(path, &written), 1);
  EXPECT_TRUE(written) << "the pid file did not hold our pid while the guard lived";
  EXPECT_FALSE(PathExists(path)) << "the early return left the pid file behind";
}

TEST(PidFileGuardTest, ItIsWrittenReadableByAllWhateverTheUmask) {
  TempDir dir;
  const std::string path = dir.Sub("backupd.pid");
  mode_t old = ::umask(077);
  Result<PidFile> pid_file = PidFile::Write(path);
  ::umask(old);
  ASSERT_TRUE(pid_file.ok()) << pid_file.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(testing::ListDir(dir.path()), std::vector<std::string>{"backupd.pid"})
      << "a temp file was left beside it";
}

TEST(PidFileGuardTest, APidFileNamingAnotherProcessIsLeftAlone) {
  TempDir dir;
  const std::string path = dir.Sub("backupd.pid");
  {
    Result<PidFile> pid_file = PidFile::Write(path);
    ASSERT_TRUE(pid_file.ok()) << pid_file.status().ToString();
    // A newer instance took the pid file over meanwhile.
    ASSERT_TRUE(WriteFile(path, "1\n"));
  }
  EXPECT_EQ(ReadFile(path), "1\n");
}

TEST(PidFileGuardTest, AMovedGuardRemovesItOnceWhenTheLastOwnerGoes) {
  TempDir dir;
  const std::string path = dir.Sub("backupd.pid");
  Result<PidFile> outer = Status::Invalid("not yet");
  {
    Result<PidFile> inner = PidFile::Write(path);
    ASSERT_TRUE(inner.ok()) << inner.status().ToString();
    outer = std::move(inner);
  }
  EXPECT_EQ(ReadFile(path), kOurPid) << "a moved-from guard removed it";
  outer = Status::Invalid("gone");
  EXPECT_FALSE(PathExists(path));
}

TEST(PidFileGuardTest, AnEmptyPathMeansNoPidFile) {
  Result<PidFile> pid_file = PidFile::Write("");
  EXPECT_TRUE(pid_file.ok());
  EXPECT_TRUE(PidFile::CheckNotRunning("").ok());
}

TEST(PidFileGuardTest, AnUnwritablePlaceIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.Sub("missing/backupd.pid");
  Result<PidFile> pid_file = PidFile::Write(path);
  ASSERT_FALSE(pid_file.ok());
  EXPECT_NE(pid_file.status().message().find(dir.Sub("missing/")), std::string::npos)
      << pid_file.status().message();
  EXPECT_NE(pid_file.status().message().find("No such file or directory"), std::string::npos)
      << pid_file.status().message();
}

}  // namespace
}  // namespace backupd::daemon
