// test process (root, to start backupd as root): runs the real daemon and inspects it via /proc.
#include "tests/harness/daemon_harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/landlock.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace backupd::testing {
namespace {

using Clock = std::chrono::steady_clock;

// The gap between two looks at something that gives no notification (/proc, a log file).
constexpr Millis kPollStep{10};

void PollStep() { poll(nullptr, 0, static_cast<int>(kPollStep.count())); }

int RemainingMillis(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// argv as execv wants it; the strings must outlive the returned vector.
std::vector<char*> ExecArgv(const std::vector<std::string>& args) {
  std::vector<char*> out;
  out.reserve(args.size() + 1);
  for (const std::string& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// In a forked child: a mount namespace of its own with `mounts` in place; `dev_null` is
// mounts.dev + "/null", built before the fork.
bool EnterPrivateMounts(const PrivateMounts& mounts, const char* dev_null) {
  return unshare(CLONE_NEWNS) == 0 &&
         // Nothing mounted below may propagate back to the host.
         mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
         mount("/dev/null", dev_null, nullptr, MS_BIND, nullptr) == 0 &&
         mount(mounts.dev.c_str(), "/dev", nullptr, MS_BIND, nullptr) == 0 &&
         mount(mounts.var_log.c_str(), "/var/log", nullptr, MS_BIND, nullptr) == 0;
}

// In a forked child: in `mounts` if given, stdin from /dev/null, stdout/stderr to the given fds,
// nothing else open. Only async-signal-safe calls, since the parent has threads.
[[noreturn]] void ExecChild(const char* cwd, int out_fd, int err_fd, char* const* argv,
                            const PrivateMounts& mounts, const std::string& dev_null) {
  if (!mounts.dev.empty() && !EnterPrivateMounts(mounts, dev_null.c_str())) _exit(124);
  int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) {
    _exit(126);
  }
  close_range(3, UINT_MAX, 0);
  if (cwd != nullptr && chdir(cwd) != 0) _exit(126);
  execv(argv[0], argv);
  _exit(127);
}

// Reads whatever is available on fd into `out`; false at EOF or error.
bool ReadAvailable(int fd, std::string* out) {
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    out->append(buf, static_cast<size_t>(n));
    return true;
  }
}

// Field 3 (state) and 4 (ppid) of /proc/PID/stat; the comm field may hold spaces and parens.
bool ReadStat(pid_t pid, char* state, pid_t* ppid) {
  std::optional<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return false;
  size_t close_paren = stat->rfind(')');
  if (close_paren == std::string::npos) return false;
  std::istringstream in(stat->substr(close_paren + 1));
  long parent = 0;
  if (!(in >> *state >> parent)) return false;
  *ppid = static_cast<pid_t>(parent);
  return true;
}

std::string Canonical(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(path, ec);
  return ec ? path : p.string();
}

}  // namespace

// --- Daemon ---

Daemon::Daemon() = default;

Daemon::~Daemon() {
  KillAll();
  stop_draining_ = true;
  if (drainer_.joinable()) drainer_.join();
  if (stderr_fd_ >= 0) close(stderr_fd_);
  if (syslog_fd_ >= 0) close(syslog_fd_);
}

Status Daemon::Start(const DaemonOptions& options) {
  if (pid_ > 0) return Status::Invalid("already started");
  log_to_file_ = options.log_to_file;
  std::string log = log_to_file_ ? log_file() : std::string("stderr");
  if (options.dev_log != DevLog::kHost) {
    Result<PrivateMounts> mounts = MakePrivateMounts(dir_.path());
    if (!mounts.ok()) return mounts.status();
    mounts_ = *mounts;
    Result<int> fd = BindDatagramSocket(dir_.Sub("syslog.sock"));
    if (!fd.ok()) return fd.status();
    syslog_fd_ = *fd;
    Status s = SetSyslogListening(options.dev_log == DevLog::kListening);
    if (!s.ok()) return s;
    log = "syslog";
  }
  std::ostringstream conf;
  conf << "listen = 127.0.0.1:0\n"
       << "storage = " << storage() << "\n"
       << "user = nobody\n"
       << "group = nogroup\n"
       << "workers = 3\n"
       << "log = " << log << "\n"
       << "log_level = debug\n"
       << "pid_file = " << dir_.Sub("backupd.pid") << "\n"
       << "status_socket = " << dir_.Sub("backupd.status") << "\n"
       << "max_file_size = 64M\n"
       << "idle_timeout = 5\n";
  if (!WriteFile(config_file(), conf.str())) return Status::IoError("cannot write the config");

  std::string program = BackupdPath();
  if (options.as_nobody) {
    // The build tree may be closed to nobody (a 0700 mktemp folder under dpkg-buildpackage): run
    // a copy from the temp folder, which is nobody's.
    program = dir_.Sub("backupd");
    std::error_code ec;
    std::filesystem::copy_file(BackupdPath(), program, ec);
    if (ec || chmod(program.c_str(), 0755) != 0) {
      return Status::IoError("cannot copy " + BackupdPath() + " for nobody to run");
    }
  }
  std::vector<std::string> args = {program, "-f", "-c", config_file()};
  for (const std::string& o : options.overrides) {
    args.push_back("-o");
    args.push_back(o);
  }
  std::vector<char*> argv = ExecArgv(args);
  const std::string dev_null = mounts_.dev + "/null";

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::FromErrno(errno, "pipe2");
  if (options.as_nobody && chown(dir_.path().c_str(), NobodyUid(), NogroupGid()) != 0) {
    close(fds[0]);
    close(fds[1]);
    return Status::FromErrno(errno, "chown temp folder");
  }
  pid_t child = fork();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return Status::FromErrno(errno, "fork");
  }
  if (child == 0) {
    if (options.as_nobody &&
        (setgroups(0, nullptr) != 0 || setgid(NogroupGid()) != 0 || setuid(NobodyUid()) != 0)) {
      _exit(125);
    }
    if (options.umask) ::umask(*options.umask);
    ExecChild(nullptr, fds[1], fds[1], argv.data(), mounts_, dev_null);
  }
  close(fds[1]);
  pid_ = child;
  stderr_fd_ = fds[0];
  drainer_ = std::thread([this] { Drain(); });
  return WaitForListening(Millis(10000));
}

void Daemon::Drain() {
  while (!stop_draining_) {
    // poll() skips a descriptor of -1: no syslog socket.
    pollfd p[2] = {{stderr_fd_, POLLIN, 0}, {syslog_fd_, POLLIN, 0}};
    if (poll(p, 2, 50) <= 0) continue;
    if (p[1].revents & POLLIN) {
      char buf[8192];
      ssize_t n = recv(syslog_fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        syslog_text_.append(buf, static_cast<size_t>(n)).push_back('\n');
      }
    }
    if (p[0].revents == 0) continue;
    std::string chunk;
    bool more = ReadAvailable(stderr_fd_, &chunk);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stderr_text_ += chunk;
    }
    if (!more) return;
  }
}

std::string Daemon::Log() const {
  std::string text = Stderr();
  if (log_to_file_) text += ReadFile(log_file()).value_or("");
  return text + SyslogLog();
}

std::string Daemon::Stderr() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stderr_text_;
}

std::string Daemon::SyslogLog() const {
  std::lock_guard<std::mutex> lock(mu_);
  return syslog_text_;
}

Status Daemon::SetSyslogListening(bool listening) {
  if (mounts_.dev.empty()) return Status::Invalid("started with DevLog::kHost");
  // A second name for the harness's bound socket: connecting to it reaches that socket.
  const std::string dev_log = mounts_.dev + "/log";
  if (listening ? link(dir_.Sub("syslog.sock").c_str(), dev_log.c_str()) != 0
                : unlink(dev_log.c_str()) != 0 && errno != ENOENT) {
    return Status::FromErrno(errno, dev_log);
  }
  return Status::Ok();
}

bool Daemon::WaitForLog(const std::function<bool(const std::string&)>& pred, Millis timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (pred(Log())) return true;
    if (Clock::now() >= deadline) return false;
    PollStep();
  }
}

bool Daemon::WaitForLogLine(const std::vector<std::string>& parts, Millis timeout) const {
  return WaitForLog(
      [&parts](const std::string& log) {
        std::istringstream lines(log);
        std::string line;
        while (std::getline(lines, line)) {
          bool all = true;
          for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
          if (all) return true;
        }
        return false;
      },
      timeout);
}

Status Daemon::WaitForListening(Millis timeout) {
  static const std::string kMarker = "listening on 127.0.0.1:";
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string log = Log();
    size_t at = log.find(kMarker);
    if (at != std::string::npos) {
      size_t digits = at + kMarker.size();
      size_t end = digits;
      while (end < log.size() && isdigit(static_cast<unsigned char>(log[end]))) ++end;
      if (end > digits && end < log.size()) {
        unsigned long port = std::stoul(log.substr(digits, end - digits));
        if (port == 0 || port > 65535) return Status::Invalid("daemon logged port " + log);
        port_ = static_cast<uint16_t>(port);
        return Status::Ok();
      }
    }
    int wstatus = 0;
    if (waitpid(pid_, &wstatus, WNOHANG) == pid_) {
      pid_ = -1;
      // Let the drainer pick up the last words before quoting them.
      WaitForLog([](const std::string&) { return false; }, Millis(100));
      return Status::Closed("backupd exited (wait status " + std::to_string(wstatus) +
                            ") before listening; log:\n" + Log());
    }
    if (Clock::now() >= deadline) {
      return Status::Timeout("backupd did not log '" + kMarker + "PORT'; log:\n" + Log());
    }
    PollStep();
  }
}

std::vector<pid_t> Daemon::Workers() const {
  if (pid_ <= 0) return {};
  return ChildrenOf(pid_);
}

std::vector<pid_t> Daemon::SessionChildren() const {
  std::vector<pid_t> out;
  for (pid_t w : Workers()) {
    for (pid_t c : ChildrenOf(w)) out.push_back(c);
  }
  return out;
}

std::string Daemon::WorkerRoot() const { return Canonical(storage()) + "/.backupd-empty"; }

bool KernelHasLandlock() {
  return ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION) > 0;
}

Result<std::vector<pid_t>> Daemon::WaitForWorkers(size_t n, Millis timeout) const {
  const std::string root = WorkerRoot();
  const std::string nobody = std::to_string(NobodyUid());
  const auto deadline = Clock::now() + timeout;
  std::vector<pid_t> workers;
  for (;;) {
    workers = Workers();
    bool ready = workers.size() == n;
    for (pid_t w : workers) {
      if (!ready) break;
      if (geteuid() != 0) continue;
      std::optional<std::string> uid = ProcStatusField(w, "Uid");
      // The filter goes in last (worker_main.cc): until then a worker is still setting up.
      ready = ProcLink(w, "root") == root && uid && uid->rfind(nobody, 0) == 0 &&
              ProcStatusField(w, "Seccomp") == "2";
    }
    if (ready) return workers;
    if (Clock::now() >= deadline) {
      return Status::Timeout("expected " + std::to_string(n) + " ready workers, have " +
                             std::to_string(workers.size()) + "; log:\n" + Log());
    }
    PollStep();
  }
}

Result<int> Daemon::Stop(Millis timeout) {
  if (pid_ <= 0) return Status::Invalid("not running");
  if (kill(pid_, SIGTERM) != 0) return Status::FromErrno(errno, "kill");
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int wstatus = 0;
    pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return wstatus;
    }
    if (r < 0) return Status::FromErrno(errno, "waitpid");
    if (Clock::now() >= deadline) return Status::Timeout("backupd still running after SIGTERM");
    PollStep();
  }
}

void Daemon::KillAll() {
  if (pid_ <= 0) return;
  std::vector<pid_t> workers = Workers();
  if (!Stop(Millis(5000)).ok() && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Workers a broken supervisor left behind; they were its children moments ago.
  for (pid_t w : workers) {
    if (ProcessAlive(w)) kill(w, SIGKILL);
  }
}

// --- programs ---

ProgramResult RunProgram(const std::vector<std::string>& args, const std::string& cwd,
                         Millis timeout, const PrivateMounts& mounts) {
  ProgramResult result;
  std::vector<char*> argv = ExecArgv(args);
  const std::string dev_null = mounts.dev + "/null";
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0) return result;
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return result;
  }
  pid_t child = fork();
  if (child == 0) ExecChild(cwd.c_str(), out[1], err[1], argv.data(), mounts, dev_null);
  close(out[1]);
  close(err[1]);
  if (child < 0) {
    close(out[0]);
    close(err[0]);
    return result;
  }
  const auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  while (open_count > 0) {
    int r = poll(fds, 2, RemainingMillis(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      result.timed_out = true;
      kill(child, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      if (!ReadAvailable(fds[i].fd, sinks[i])) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  int wstatus = 0;
  while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (!result.timed_out && WIFEXITED(wstatus)) result.exit_code = WEXITSTATUS(wstatus);
  return result;
}

// --- private mounts ---

Result<PrivateMounts> MakePrivateMounts(const std::string& root) {
  PrivateMounts m{root + "/dev", root + "/var_log"};
  if (mkdir(m.dev.c_str(), 0755) != 0) return Status::FromErrno(errno, m.dev);
  if (mkdir(m.var_log.c_str(), 0755) != 0) return Status::FromErrno(errno, m.var_log);
  if (!WriteFile(m.dev + "/null", "")) return Status::IoError("cannot create " + m.dev + "/null");
  return m;
}

Result<int> BindDatagramSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Status::Invalid("socket path too long");
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno(errno, "socket");
  if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    Status s = Status::FromErrno(errno, "bind " + path);
    close(fd);
    return s;
  }
  return fd;
}

// --- files and /proc ---

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  return static_cast<bool>(out);
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j)
      out[i + j] = static_cast<char>((v >> (8 * j)) & 0xFF);
  }
  return out;
}

bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

std::optional<std::string> ProcStatusField(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      size_t start = line.find_first_not_of(" \t", key.size() + 1);
      return start == std::string::npos ? std::string() : line.substr(start);
    }
  }
  return std::nullopt;
}

std::optional<std::string> ProcLink(pid_t pid, const std::string& what) {
  std::string link = "/proc/" + std::to_string(pid) + "/" + what;
  char buf[PATH_MAX];
  ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::pair<int, std::string>> ProcFds(pid_t pid) {
  std::vector<std::pair<int, std::string>> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    out.emplace_back(fd, ProcLink(pid, std::string("fd/") + e->d_name).value_or("?"));
  }
  closedir(d);
  return out;
}

namespace {

// The pids in /proc for which `keep` holds.
std::vector<pid_t> ProcessesWhere(const std::function<bool(pid_t)>& keep) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (!isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
    if (keep(pid)) out.push_back(pid);
  }
  closedir(d);
  return out;
}

}  // namespace

std::optional<pid_t> ProcessWith(const std::vector<std::string>& words) {
  std::optional<pid_t> found;
  ProcessesWhere([&](pid_t pid) {
    if (found) return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    const std::string cmdline((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
    bool all = !cmdline.empty();
    for (const std::string& w : words) all = all && cmdline.find(w) != std::string::npos;
    if (all) found = pid;
    return false;
  });
  return found;
}

bool InFlock(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
  std::string nr;
  return static_cast<bool>(in >> nr) && nr == std::to_string(SYS_flock);
}

std::vector<pid_t> ChildrenOf(pid_t ppid) {
  return ProcessesWhere([ppid](pid_t pid) {
    char state = 0;
    pid_t parent = 0;
    return ReadStat(pid, &state, &parent) && parent == ppid && state != 'Z';
  });
}

std::vector<pid_t> DescendantsOf(pid_t ppid) {
  std::vector<pid_t> out = ChildrenOf(ppid);
  for (size_t i = 0; i < out.size(); ++i) {
    for (pid_t grandchild : ChildrenOf(out[i])) out.push_back(grandchild);
  }
  return out;
}

std::vector<pid_t> ProcessesWithArgument(const std::string& arg) {
  return ProcessesWhere([&arg](pid_t pid) {
    std::optional<std::string> cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    if (!cmdline || !ProcessAlive(pid)) return false;
    std::istringstream args(*cmdline);
    for (std::string a; std::getline(args, a, '\0');) {
      if (a == arg) return true;
    }
    return false;
  });
}

bool ProcessAlive(pid_t pid) {
  char state = 0;
  pid_t parent = 0;
  return ReadStat(pid, &state, &parent) && state != 'Z';
}

bool ProcessStopped(pid_t pid) {
  char state = 0;
  pid_t parent = 0;
  return ReadStat(pid, &state, &parent) && state == 'T';
}

pid_t ResumeStoppedDescendant(pid_t root, Millis timeout) {
  pid_t stopped = -1;
  Eventually(
      [&] {
        for (pid_t p : DescendantsOf(root)) {
          if (ProcessStopped(p)) stopped = p;
        }
        return stopped > 0;
      },
      timeout);
  return stopped > 0 && kill(stopped, SIGCONT) == 0 ? stopped : -1;
}

namespace {

struct TcpSocket {
  std::string local, remote, state, inode;  // as /proc/net/tcp prints them
};

std::vector<TcpSocket> TcpSockets() {
  std::vector<TcpSocket> out;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column titles
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, queues, timer, retransmits, uid, timeout;
    TcpSocket s;
    if (fields >> sl >> s.local >> s.remote >> s.state >> queues >> timer >> retransmits >> uid >>
        timeout >> s.inode) {
      out.push_back(std::move(s));
    }
  }
  return out;
}

// 127.0.0.1:port as /proc/net/tcp prints it.
std::string LoopbackAddress(uint16_t port) {
  char text[32];
  snprintf(text, sizeof(text), "0100007F:%04X", port);
  return text;
}

}  // namespace

std::vector<std::string> ListeningSocketInodes(uint16_t port) {
  const std::string local = LoopbackAddress(port);
  std::vector<std::string> out;
  for (const TcpSocket& s : TcpSockets()) {
    if (s.local == local && s.state == "0A") out.push_back(s.inode);
  }
  return out;
}

pid_t HolderOfConnection(const std::vector<pid_t>& processes, uint16_t port,
                         const std::string& client) {
  const size_t colon = client.rfind(':');
  in_addr address{};
  if (colon == std::string::npos ||
      inet_pton(AF_INET, client.substr(0, colon).c_str(), &address) != 1) {
    return -1;
  }
  // /proc/net/tcp prints an address as the hex of its network-order word read natively.
  char remote[32];
  snprintf(remote, sizeof(remote), "%08X:%04X", address.s_addr,
           static_cast<unsigned>(std::stoul(client.substr(colon + 1))));
  const std::string local = LoopbackAddress(port);
  std::string socket;
  for (const TcpSocket& s : TcpSockets()) {
    if (s.local == local && s.remote == remote) socket = "socket:[" + s.inode + "]";
  }
  if (socket.empty()) return -1;
  for (pid_t pid : processes) {
    for (const auto& [fd, link] : ProcFds(pid)) {
      if (link == socket) return pid;
    }
  }
  return -1;
}

DetachedGuard::DetachedGuard() : ok_(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0) {}

DetachedGuard::~DetachedGuard() {
  if (pid > 0 && ProcessAlive(pid)) kill(pid, SIGKILL);
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

uid_t NobodyUid() {
  passwd* pw = getpwnam("nobody");
  return pw == nullptr ? 65534 : pw->pw_uid;
}

gid_t NogroupGid() {
  group* gr = getgrnam("nogroup");
  return gr == nullptr ? 65534 : gr->gr_gid;
}

Result<std::string> AddBackupdUser(uint32_t id, const std::string& users_file,
                                   const std::string& pid_file, const std::string& dir) {
  const std::string conf = dir + "/user-add.conf";
  if (!WriteFile(conf, "users_file = " + users_file + "\npid_file = " + pid_file + "\n")) {
    return Status::IoError("cannot write " + conf);
  }
  ProgramResult r = RunProgram({BackupdPath(), "user", "add", std::to_string(id), "-c", conf}, dir,
                               Millis(20000));
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  size_t space = out.find_last_of(' ');
  if (r.exit_code != 0 || space == std::string::npos || space + 1 == out.size()) {
    return Status::IoError("backupd user add " + std::to_string(id) + ": exit " +
                           std::to_string(r.exit_code) + "\n" + r.out + r.err);
  }
  return out.substr(space + 1);
}

bool WriteSecretFile(const std::string& path, const std::string& secret) {
  // Empty and 0600 first, so the secret is never in a file others may read.
  return WriteFile(path, "") && chmod(path.c_str(), 0600) == 0 && WriteFile(path, secret + "\n");
}

std::string BackupdPath() { return BACKUPD_PATH; }
std::string BackupClientPath() { return BACKUP_CLIENT_PATH; }
std::string PythonClientPath() { return PYTHON_CLIENT_PATH; }
std::string Python3Path() { return PYTHON3_PATH; }

std::vector<std::string> BackupClientV2(uint16_t port, uint32_t user,
                                        const std::string& secret_file) {
  return {BackupClientPath(), "--server",           "127.0.0.1:" + std::to_string(port),
          "--user",           std::to_string(user), "--secret-file",
          secret_file};
}

std::vector<std::string> LinesWith(const std::string& text, const std::vector<std::string>& parts) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (std::all_of(parts.begin(), parts.end(),
                    [&](const std::string& p) { return line.find(p) != std::string::npos; })) {
      found.push_back(line);
    }
  }
  return found;
}

}  // namespace backupd::testing
