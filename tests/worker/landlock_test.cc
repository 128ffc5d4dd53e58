// tests (root or not; each case in a forked child): RestrictToFolder keeps a process to one folder.
#include "worker/landlock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "tests/harness/temp_dir.h"

namespace backupd::worker {
namespace {

// Runs `fenced` in a forked child (a Landlock domain lasts for the process's life) and returns
// what it reports: "" when every check held, else the first that did not.
std::string InChild(const std::function<std::string()>& fenced) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = fenced();
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) out += " (child died)";
  return out;
}

std::string Errno(const std::string& what, int err) {
  return what + ": " + (err == 0 ? std::string("succeeded") : std::strerror(err));
}

// "" when `rc` is a failure with errno EACCES (or `also`), else what happened.
std::string Refused(const std::string& what, long rc, int also = EACCES) {
  if (rc < 0 && (errno == EACCES || errno == also)) return "";
  return Errno(what + " was not refused", rc < 0 ? errno : 0);
}

std::string Fence(int dir_fd) {
  Status s = RestrictToFolder(dir_fd);
  return s.ok() ? "" : "RestrictToFolder: " + s.ToString();
}

class LandlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (LandlockAbi() == 0) GTEST_SKIP() << "this kernel has no Landlock";
    ASSERT_EQ(::mkdir(a_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(b_.c_str(), 0700), 0);
    std::ofstream(b_ + "/file") << "B's secret";
    a_fd_ = UniqueFd(::open(a_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(a_fd_.valid());
  }

  backupd::testing::TempDir tmp_;
  std::string a_ = tmp_.Sub("A");
  std::string b_ = tmp_.Sub("B");
  UniqueFd a_fd_;
};

TEST_F(LandlockTest, InsideTheFolderEverythingABackupDoes) {
  EXPECT_EQ(InChild([&]() -> std::string {
              if (std::string e = Fence(a_fd_.get()); !e.empty()) return e;
              const int a = a_fd_.get();
              if (::mkdirat(a, "sub", 0700) != 0) return Errno("mkdirat", errno);
              UniqueFd f(::openat(a, "sub/tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
              if (!f.valid()) return Errno("create", errno);
              if (::write(f.get(), "hello", 5) != 5) return Errno("write", errno);
              if (::ftruncate(f.get(), 4) != 0) return Errno("ftruncate", errno);
              f.reset();
              if (::renameat(a, "sub/tmp", a, "sub/file") != 0) return Errno("renameat", errno);
              if (::renameat(a, "sub/file", a, "moved") != 0) return Errno("rename across", errno);
              UniqueFd r(::openat(a, "moved", O_RDONLY | O_CLOEXEC));
              char buf[8] = {};
              if (!r.valid() || ::read(r.get(), buf, sizeof buf) != 4) return Errno("read", errno);
              if (std::string(buf) != "hell") return "read back " + std::string(buf);
              UniqueFd t(::openat(a, "moved", O_WRONLY | O_TRUNC | O_CLOEXEC));
              if (!t.valid()) return Errno("open O_TRUNC", errno);
              UniqueFd list(::openat(a, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
              if (!list.valid()) return Errno("open the folder to list", errno);
              if (::unlinkat(a, "moved", 0) != 0) return Errno("unlinkat", errno);
              if (::unlinkat(a, "sub", AT_REMOVEDIR) != 0) return Errno("rmdir", errno);
              // The absolute path of a file inside is fine too: Landlock fences objects, not paths.
              UniqueFd abs(::open((a_ + "/x").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
              if (!abs.valid()) return Errno("create by absolute path", errno);
              return "";
            }),
            "");
}

TEST_F(LandlockTest, ASiblingFolderIsOutOfReachEveryWay) {
  // Opened before the fence: Landlock checks at open time, so a descriptor already open on a file
  // keeps working — which is why a session child closes every descriptor it does not need before
  // it fences itself. A folder descriptor opened before is no way in: opening beneath it is a new
  // open, checked like any other.
  UniqueFd b_dir(::open(b_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  UniqueFd b_file(::open((b_ + "/file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(b_dir.valid() && b_file.valid());
  EXPECT_EQ(
      InChild([&]() -> std::string {
        if (std::string e = Fence(a_fd_.get()); !e.empty()) return e;
        const int a = a_fd_.get();
        std::string e;
        e += Refused("open B/file by absolute path",
                     ::open((b_ + "/file").c_str(), O_RDONLY | O_CLOEXEC));
        e += Refused("open A/../B/file", ::openat(a, "../B/file", O_RDONLY | O_CLOEXEC));
        e += Refused("openat on B's descriptor from before",
                     ::openat(b_dir.get(), "file", O_RDONLY | O_CLOEXEC));
        e += Refused("create in B", ::openat(b_dir.get(), "new", O_WRONLY | O_CREAT, 0600));
        e += Refused("list B", ::open(b_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        e += Refused("unlink B/file", ::unlink((b_ + "/file").c_str()));
        e += Refused("rename B/file into A", ::renameat(b_dir.get(), "file", a, "stolen"), EXDEV);
        e += Refused("hard link to B/file", ::linkat(b_dir.get(), "file", a, "link", 0), EXDEV);
        // /proc's magic links resolve to the objects themselves, which are checked as any.
        e += Refused("open B/file through /proc/self/fd of A",
                     ::open(("/proc/self/fd/" + std::to_string(a) + "/../B/file").c_str(),
                            O_RDONLY | O_CLOEXEC));
        e += Refused("open B/file through /proc/self/fd of B",
                     ::open(("/proc/self/fd/" + std::to_string(b_dir.get()) + "/file").c_str(),
                            O_RDONLY | O_CLOEXEC));
        e += Refused("reopen B's file through /proc/self/fd",
                     ::open(("/proc/self/fd/" + std::to_string(b_file.get())).c_str(),
                            O_RDONLY | O_CLOEXEC));
        e += Refused("create in /tmp",
                     ::open("/tmp/backupd-landlock-test", O_WRONLY | O_CREAT, 0600));
        char c;
        if (::pread(b_file.get(), &c, 1, 0) != 1) e += Errno("pre-opened B file read", errno);
        return e;
      }),
      "");
}

TEST_F(LandlockTest, NoSymlinksNoSpecialFilesNoExecute) {
  EXPECT_EQ(InChild([&]() -> std::string {
              if (std::string e = Fence(a_fd_.get()); !e.empty()) return e;
              const int a = a_fd_.get();
              std::string e;
              e += Refused("symlink to B", ::symlinkat(b_.c_str(), a, "to-b"));
              e += Refused("mkfifo", ::mkfifoat(a, "fifo", 0600));
              UniqueFd f(::openat(a, "prog", O_WRONLY | O_CREAT | O_CLOEXEC, 0700));
              if (!f.valid()) return Errno("create prog", errno);
              f.reset();
              char* const argv[] = {nullptr};
              e += Refused("execute a file in the folder",
                           ::execve((a_ + "/prog").c_str(), argv, argv));
              return e;
            }),
            "");
}

TEST_F(LandlockTest, NoSignalsOutsideTheDomain) {
  if (LandlockAbi() < 6) GTEST_SKIP() << "signal scoping needs Landlock ABI 6";
  const pid_t parent = ::getpid();
  EXPECT_EQ(InChild([&]() -> std::string {
              if (std::string e = Fence(a_fd_.get()); !e.empty()) return e;
              return Refused("signal the parent", ::kill(parent, SIGCONT), EPERM);
            }),
            "");
}

}  // namespace
}  // namespace backupd::worker
