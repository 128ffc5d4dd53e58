// supervisor (root): daemonizing and pid-file handling.
#include "daemon/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/atomic_file.h"
#include "base/unique_fd.h"

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
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null.valid()) return Status::FromErrno(errno, "/dev/null");
  for (int fd = 0; fd <= 2; ++fd) ::dup2(null.get(), fd);
  // With stdio closed at start, /dev/null itself landed on 0, 1 or 2: it stays open there.
  if (null.get() <= 2) null.release();
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

pid_t PidFile::LivePid(const std::string& path) {
  pid_t pid = path.empty() ? 0 : ReadPid(path);
  return pid != 0 && IsLiveBackupd(pid) ? pid : 0;
}

Result<PidFile> PidFile::Write(const std::string& path) {
  if (path.empty()) return PidFile(std::string(), 0);
  // 0644 whatever the umask: init scripts and monitoring read it as other users.
  Status s = WriteFileAtomically(path, std::to_string(::getpid()) + "\n", 0644);
  if (!s.ok()) return s;
  return PidFile(path, ::getpid());
}

PidFile::PidFile(PidFile&& other) noexcept
    : path_(std::exchange(other.path_, std::string())), owner_(other.owner_) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::exchange(other.path_, std::string());
    owner_ = other.owner_;
  }
  return *this;
}

PidFile::~PidFile() { Remove(); }

void PidFile::Remove() {
  if (!path_.empty() && owner_ == ::getpid() && ReadPid(path_) == owner_) ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace backupd::daemon
