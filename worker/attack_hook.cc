// worker and session child (unprivileged, fenced; test builds only): every way from one user's
// folder to another user's file, each tried and its outcome reported; and the forbidden calls.
#include "worker/attack_hook.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>

#include "base/unique_fd.h"

namespace backupd::worker {

namespace {

// An attempt returns what the system call did: a descriptor or 0 when it got through, -1 with
// errno when it was refused.
std::string Outcome(const std::string& name, const std::function<long()>& attempt) {
  errno = 0;
  long rc = attempt();
  if (rc >= 0) return "test hook: " + name + ": REACHED";
  return "test hook: " + name + ": refused (" + std::strerror(errno) + ")";
}

// A descriptor an attempt opened, closed at once: only whether it opened matters.
long Opened(int fd) {
  UniqueFd closer(fd);
  return fd;
}

}  // namespace

std::optional<std::string> AttackHookTarget() {
  const char* victim = std::getenv(kAttackHookEnv);
  if (victim == nullptr || *victim == '\0') return std::nullopt;
  return std::string(victim);
}

bool IsFolderOf(int folder_fd, const std::string& user) {
  // Landlock does not fence metadata, so the folder can be told from its siblings.
  struct stat mine {
  }, theirs{};
  return ::fstat(folder_fd, &mine) == 0 &&
         ::fstatat(folder_fd, ("../" + user).c_str(), &theirs, 0) == 0 &&
         mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

std::optional<ForbiddenCall> ForbiddenCallTarget() {
  const char* armed = std::getenv(kForbiddenCallEnv);
  if (armed == nullptr) return std::nullopt;
  const std::string spec = armed;
  const size_t first = spec.find(':');
  const size_t second = spec.find(':', first == std::string::npos ? first : first + 1);
  if (second == std::string::npos) return std::nullopt;
  ForbiddenCall hook;
  const std::string where = spec.substr(0, first);
  if (where != "worker" && where != "session") return std::nullopt;
  hook.in_session_child = where == "session";
  hook.call = spec.substr(first + 1, second - first - 1);
  hook.user = spec.substr(second + 1);
  return hook;
}

std::string MakeForbiddenCall(const std::string& call) {
  long rc = -1;
  errno = 0;
  if (call == "execve") {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    rc = ::execve(argv[0], argv, nullptr);
  } else if (call == "socket") {
    rc = Opened(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  } else if (call == "ptrace") {
    rc = ::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr);
  } else if (call == "open") {
    rc = Opened(::open("/etc/passwd", O_RDONLY | O_CLOEXEC));
  } else {
    return "test hook: unknown forbidden call " + call;
  }
  return "test hook: " + call + " survived the filter (" +
         (rc >= 0 ? std::string("it succeeded") : std::string(std::strerror(errno))) + ")";
}

std::vector<std::string> AttackOtherUser(int folder_fd, const std::string& storage,
                                         const std::string& victim, int saved_fd) {
  const std::string rel = "../" + victim + "/file";
  const std::string real = storage + "/" + victim + "/file";
  const std::string in_chroot = "/" + victim + "/file";
  const int a = folder_fd;
  std::vector<std::string> out;
  // The victim's own session has nothing to attack.
  if (IsFolderOf(a, victim)) return out;
  auto run = [&](const std::string& name, const std::function<long()>& attempt) {
    out.push_back(Outcome(name, attempt));
  };
  run("dotdot", [&] { return Opened(::openat(a, rel.c_str(), O_RDONLY | O_CLOEXEC)); });
  run("dotdot-write", [&] { return Opened(::openat(a, rel.c_str(), O_WRONLY | O_CLOEXEC)); });
  run("list-folder", [&] {
    return Opened(::openat(a, ("../" + victim).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  });
  run("absolute-in-chroot",
      [&] { return Opened(::open(in_chroot.c_str(), O_RDONLY | O_CLOEXEC)); });
  run("absolute-real", [&] { return Opened(::open(real.c_str(), O_RDONLY | O_CLOEXEC)); });
  run("proc-self-fd", [&] {
    const std::string path = "/proc/self/fd/" + std::to_string(a) + "/" + rel;
    return Opened(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  });
  run("proc-self-cwd", [&] {
    return Opened(::open(("/proc/self/cwd/" + victim + "/file").c_str(), O_RDONLY | O_CLOEXEC));
  });
  run("proc-self-root",
      [&] { return Opened(::open(("/proc/self/root" + real).c_str(), O_RDONLY | O_CLOEXEC)); });
  run("saved-descriptor", [&] { return Opened(::openat(saved_fd, "file", O_RDONLY | O_CLOEXEC)); });
  run("every-descriptor", [&] {
    // Whatever is open, none of it leads to the victim's file; the last refusal is reported.
    int last_errno = EBADF;
    for (int fd = 0; fd < 1024; ++fd) {
      if (fd == a) continue;
      for (const std::string& path : {victim + "/file", rel, std::string("file")}) {
        int got = ::openat(fd, path.c_str(), O_RDONLY | O_CLOEXEC);
        if (got >= 0) return Opened(got);
        last_errno = errno;
      }
    }
    errno = last_errno;
    return -1L;
  });
  run("openat2-unconfined", [&] {
    open_how how{};
    how.flags = O_RDONLY | O_CLOEXEC;
    return Opened(static_cast<int>(::syscall(SYS_openat2, a, rel.c_str(), &how, sizeof how)));
  });
  run("chdir-out", [&] {
    if (::fchdir(a) != 0 || ::chdir("..") != 0) return -1L;
    return Opened(::open((victim + "/file").c_str(), O_RDONLY | O_CLOEXEC));
  });
  run("symlink-create",
      [&] { return static_cast<long>(::symlinkat(rel.c_str(), a, "attack-link")); });
  run("symlink-planted", [&] { return Opened(::openat(a, "planted-link", O_RDONLY | O_CLOEXEC)); });
  run("hard-link",
      [&] { return static_cast<long>(::linkat(a, rel.c_str(), a, "attack-hard", 0)); });
  run("rename-in",
      [&] { return static_cast<long>(::renameat(a, rel.c_str(), a, "attack-stolen")); });
  run("unlink", [&] { return static_cast<long>(::unlinkat(a, rel.c_str(), 0)); });
  return out;
}

}  // namespace backupd::worker
