// Unit tests for base/: the descriptor owner, text helpers, atomic file replacement, timespec.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "base/atomic_file.h"
#include "base/text.h"
#include "base/timespec.h"
#include "base/unique_fd.h"
#include "tests/harness/temp_dir.h"

namespace backupd {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

int OpenNull() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFdTest, ClosesWhenDestroyed) {
  int raw = OpenNull();
  ASSERT_GE(raw, 0);
  { UniqueFd fd(raw); }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, MoveHandsOwnershipOnAndClosesOnce) {
  int raw = OpenNull();
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
  c.reset();
  EXPECT_FALSE(IsOpen(raw));
  EXPECT_EQ(c.get(), -1);
}

TEST(UniqueFdTest, ReleaseGivesUpWithoutClosing) {
  int raw = OpenNull();
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
  }
  EXPECT_TRUE(IsOpen(raw));
  ::close(raw);
}

TEST(UniqueFdTest, ResetClosesTheOldDescriptorAndTakesTheNew) {
  int first = OpenNull();
  int second = OpenNull();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_FALSE(IsOpen(first));
  EXPECT_TRUE(IsOpen(second));
  EXPECT_EQ(fd.get(), second);
}

TEST(UniqueFdTest, CloseReportsAndEmpties) {
  UniqueFd fd(OpenNull());
  int raw = fd.get();
  EXPECT_TRUE(fd.Close("null").ok());
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(IsOpen(raw));
  EXPECT_TRUE(fd.Close("again").ok());
}

// In a forked child, as the supervisor and the worker use it: what is kept stays open, in any
// order and with duplicates, and every other descriptor, stdio included, is closed.
TEST(CloseAllButTest, KeepsExactlyTheGivenDescriptors) {
  int a = OpenNull();
  int b = OpenNull();
  int c = OpenNull();
  ASSERT_GE(a, 3);
  ASSERT_GT(c, b);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!CloseAllBut({c, 2, a, c}).ok()) ::_exit(10);
    ::_exit(IsOpen(a) && IsOpen(c) && IsOpen(2) && !IsOpen(b) && !IsOpen(0) && !IsOpen(1) ? 0 : 11);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  for (int fd : {a, b, c}) ::close(fd);
}

TEST(EscapeUntrustedTest, EscapesEverythingThatCouldForgeOrSplitALine) {
  EXPECT_EQ(EscapeUntrusted("home/a b.txt"), "home/a b.txt");
  EXPECT_EQ(EscapeUntrusted(std::string("a\nb\rc\0d", 7)), "a\\x0ab\\x0dc\\x00d");
  EXPECT_EQ(EscapeUntrusted("say \"hi\" \\ bye"), "say \\x22hi\\x22 \\x5c bye");
  EXPECT_EQ(EscapeUntrusted("\x1b[31m\x7f"), "\\x1b[31m\\x7f");
  EXPECT_EQ(EscapeUntrusted("caf\xc3\xa9"), "caf\\xc3\\xa9");
  EXPECT_EQ(EscapeUntrusted("[::1]:80 ok~"), "[::1]:80 ok~");
  EXPECT_EQ(EscapeUntrusted(std::string("\0\t\x80", 3)), "\\x00\\x09\\x80");
  EXPECT_EQ(EscapeUntrusted(""), "");
}

TEST(ParseDecimalTest, AcceptsPlainDigitsUpToMax) {
  EXPECT_EQ(ParseDecimal("0", 10), 0u);
  EXPECT_EQ(ParseDecimal("1337", 65535), 1337u);
  EXPECT_EQ(ParseDecimal("65535", 65535), 65535u);
  EXPECT_EQ(ParseDecimal("007", 10), 7u);
  EXPECT_EQ(ParseDecimal("18446744073709551615", UINT64_MAX), UINT64_MAX);
}

TEST(ParseDecimalTest, RefusesAnythingElse) {
  for (const char* bad : {"", "65536", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.5", "١"}) {
    EXPECT_FALSE(ParseDecimal(bad, 65535).has_value()) << bad;
  }
  EXPECT_FALSE(ParseDecimal("18446744073709551616", UINT64_MAX).has_value());
  EXPECT_FALSE(ParseDecimal("000000000000000000001", UINT64_MAX).has_value());
}

TEST(FormatHostPortTest, BracketsIpv6Only) {
  EXPECT_EQ(FormatHostPort("127.0.0.1", 1337), "127.0.0.1:1337");
  EXPECT_EQ(FormatHostPort("::1", 1337), "[::1]:1337");
  EXPECT_EQ(FormatHostPort("backup.example", 0), "backup.example:0");
}

class AtomicFileTest : public ::testing::Test {
 protected:
  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  testing::TempDir dir_;
};

TEST_F(AtomicFileTest, ReplacesTheFileWithExactlyTheModeAskedForAndLeavesNoTemp) {
  std::string path = dir_.Sub("metrics.prom");
  { std::ofstream(path) << "old contents that are longer\n"; }
  mode_t old_umask = ::umask(077);
  Status s = WriteFileAtomically(path, "new\n", 0644);
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Read(path), "new\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_NE(::access((path + ".tmp-" + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST_F(AtomicFileTest, ReplacesByRenameNotInPlace) {
  std::string path = dir_.Sub("backupd.prom");
  ASSERT_TRUE(WriteFileAtomically(path, std::string(100000, 'a'), 0644).ok());
  // A reader holding the old file keeps seeing it whole: the new text is a new inode.
  std::ifstream reader(path, std::ios::binary);
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "second\n", 0644).ok());
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  EXPECT_EQ(Read(path), "second\n");
  std::stringstream old;
  old << reader.rdbuf();
  EXPECT_EQ(old.str(), std::string(100000, 'a'));
}

TEST_F(AtomicFileTest, AFailedRenameLeavesNoTemporaryAndNamesThePath) {
  // rename() cannot replace a non-empty directory with a file.
  std::string path = dir_.Sub("taken");
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((path + "/inside").c_str(), 0755), 0);
  Status s = WriteFileAtomically(path, "x\n", 0644);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot rename " + path), std::string::npos) << s.message();
  EXPECT_NE(::access((path + ".tmp-" + std::to_string(::getpid())).c_str(), F_OK), 0);
}

TEST_F(AtomicFileTest, ALinkPlantedAtTheTempNameIsNotFollowed) {
  std::string path = dir_.Sub("backupd.pid");
  std::string victim = dir_.Sub("victim");
  { std::ofstream(victim) << "precious\n"; }
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  ASSERT_EQ(::symlink(victim.c_str(), tmp.c_str()), 0);
  Status s = WriteFileAtomically(path, "123\n", 0644);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot create " + tmp), std::string::npos) << s.message();
  EXPECT_EQ(Read(victim), "precious\n");
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

TEST_F(AtomicFileTest, AMissingFolderIsAnErrorNamingThePath) {
  Status s = WriteFileAtomically(dir_.Sub("no/such/file"), "x", 0644);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find(dir_.Sub("no/such/file.tmp-")), std::string::npos) << s.message();
}

TEST(ToTimespecTest, SplitsSecondsAndNanosecondsAndClampsThePast) {
  timespec t = ToTimespec(std::chrono::milliseconds(1500));
  EXPECT_EQ(t.tv_sec, 1);
  EXPECT_EQ(t.tv_nsec, 500000000);
  t = ToTimespec(std::chrono::nanoseconds(-5));
  EXPECT_EQ(t.tv_sec, 0);
  EXPECT_EQ(t.tv_nsec, 0);
  t = ToTimespec(std::chrono::seconds(300));
  EXPECT_EQ(t.tv_sec, 300);
  EXPECT_EQ(t.tv_nsec, 0);
}

}  // namespace
}  // namespace backupd
