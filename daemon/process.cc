// supervisor (root): daemonizing and pid-file handling.
#include "daemon/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace backupd::daemon {

namespace {

// The pid recorded in `path`, or 0.
pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) return 0;
  return static_cast<pid_t>(pid);
}

bool IsLiveBackupd(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name == "backupd";
}

}  // namespace

Status Daemonize() {
  pid_t pid = ::fork();
  if (pid < 0) return Status::FromErrno(errno, "fork");
  if (pid > 0) ::_exit(0);
  if (::setsid() < 0) return Status::FromErrno(errno, "setsid");
  if (::chdir("/") != 0) return Status::FromErrno(errno, "chdir /");
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return Status::FromErrno(errno, "/dev/null");
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null, fd);
  if (null > 2) ::close(null);
  return Status::Ok();
}

Status PidFile::CheckNotRunning(const std::string& path) {
  if (path.empty()) return Status::Ok();
  pid_t pid = ReadPid(path);
  if (pid != 0 && pid != ::getpid() && IsLiveBackupd(pid)) {
    return Status::Invalid("backupd is already running as pid " + std::to_string(pid) + " (" +
                           path + ")");
  }
  return Status::Ok();
}

Status PidFile::Write(const std::string& path) {
  if (path.empty()) return Status::Ok();
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return Status::FromErrno(errno, "pid file " + tmp);
  std::string text = std::to_string(::getpid()) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Status::FromErrno(errno, "pid file " + path);
    ::unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

void PidFile::Remove(const std::string& path) {
  if (!path.empty() && ReadPid(path) == ::getpid()) ::unlink(path.c_str());
}

}  // namespace backupd::daemon
