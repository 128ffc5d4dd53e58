// test process (any user): the log file sink — what a failed open reports, that the descriptor is
// close-on-exec, and that lines reach the file before and after a reopen.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "daemon/log.h"
#include "daemon/log_file.h"
#include "tests/harness/daemon_harness.h"

namespace backupd::daemon {
namespace {

using testing::ListDir;
using testing::ReadFile;
using testing::TempDir;

Status LogTo(const std::string& where) {
  conf::Config c;
  c.log = where;
  c.log_level = conf::LogLevel::kDebug;
  return SetUpLogging(c, LogTarget{where, ""});
}

// The descriptor of ours that is open on `path`, or -1.
int FdOpenOn(const std::string& path) {
  for (const std::string& name : ListDir("/proc/self/fd")) {
    char target[4096];
    std::string link = "/proc/self/fd/" + name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string(target, static_cast<size_t>(n)) == path) return std::stoi(name);
  }
  return -1;
}

TEST(LogSinkTest, AFailedOpenReportsTheReasonOfThatOpen) {
  TempDir dir;
  Result<std::unique_ptr<std::ostream>> missing = OpenLogFile(dir.Sub("no/such/folder.log"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "cannot open log file " + dir.Sub("no/such/folder.log") +
                                            ": No such file or directory");
  Status folder = LogTo(dir.path());
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.message(), "cannot open log file " + dir.path() + ": Is a directory");
}

TEST(LogSinkTest, LinesReachTheFileWhoseDescriptorNoWorkerInherits) {
  TempDir dir;
  const std::string path = dir.Sub("backupd.log");
  ASSERT_TRUE(LogTo(path).ok());
  BACKUPD_LOG(kInfo) << "first line";
  EXPECT_NE(ReadFile(path).value_or("").find("info: first line\n"), std::string::npos)
      << "not flushed per line";
  int fd = FdOpenOn(path);
  ASSERT_GE(fd, 0) << "the log file is not open";
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0) << "the log file's descriptor is inheritable";
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_APPEND, 0);

  // logrotate's move, then SIGUSR1's reopen.
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_TRUE(ReopenLogs().ok());
  BACKUPD_LOG(kInfo) << "second line";
  EXPECT_NE(ReadFile(path).value_or("").find("info: second line\n"), std::string::npos);
  EXPECT_EQ(ReadFile(path + ".1").value_or("").find("second line"), std::string::npos);
  EXPECT_EQ(FdOpenOn(path + ".1"), -1) << "the moved file stays open after the reopen";
  ASSERT_TRUE(LogTo("stderr").ok());
}

}  // namespace
}  // namespace backupd::daemon
