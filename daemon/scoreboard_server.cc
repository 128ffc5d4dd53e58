// supervisor (root): the status socket — accepts, checks the peer, sends the table, never blocks.
#include "daemon/scoreboard_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "daemon/scoreboard_text.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59  // Linux >= 4.13; older glibc headers lack the name
#endif

namespace backupd::daemon {

namespace {

// Connections answered per ServePending call; the rest wait for the next loop turn.
constexpr int kMaxAcceptsPerCall = 32;
constexpr int kBacklog = 16;

bool ReadPeer(int fd, PeerCredentials* peer) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return false;
  }
  peer->uid = cred.uid;
  peer->gid = cred.gid;
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer->groups = std::move(groups);
      return true;
    }
    if (errno != ERANGE) break;
    // The kernel reported the size it needs in glen.
    groups.resize(glen / sizeof(gid_t) + 1);
  }
  // Without the supplementary groups only the primary group can grant access: fail closed.
  return true;
}

void SendWithoutWaiting(int fd, const std::string& text) {
  int current = 0;
  socklen_t len = sizeof current;
  // Room for the whole table so the client need not read while we write; the kernel doubles the
  // value and caps it at net.core.wmem_max.
  int want = static_cast<int>(std::min<size_t>(text.size() + 65536, 64 << 20));
  if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &current, &len) == 0 && current < 2 * want) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  }
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full buffer or a gone client: it gets what was sent
    done += static_cast<size_t>(n);
  }
}

}  // namespace

bool MayReadStatus(const PeerCredentials& peer, gid_t group, uid_t self_uid) {
  if (peer.uid == 0 || peer.uid == self_uid) return true;
  if (group == static_cast<gid_t>(-1)) return false;
  if (peer.gid == group) return true;
  return std::find(peer.groups.begin(), peer.groups.end(), group) != peer.groups.end();
}

Result<ScoreboardServer> ScoreboardServer::Listen(const std::string& path, gid_t group) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Status::Invalid("status socket path '" + path + "' is empty or too long");
  }
  path.copy(addr.sun_path, path.size());

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status::Denied("refusing to replace " + path + " with the status socket: it exists" +
                            " and is not a socket");
    }
    // A socket left by an instance that did not shut down cleanly (the pid file has already
    // told us no live backupd owns it).
    if (::unlink(path.c_str()) != 0) {
      return Status::FromErrno(errno, "cannot remove stale status socket " + path);
    }
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "cannot inspect " + path);
  }

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::FromErrno(errno, "cannot create the status socket");
  // bind() creates the file with the umask's mode: keep it closed to others from its first
  // instant instead of narrowing it after the fact. The supervisor is single-threaded.
  mode_t old_umask = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<const struct sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  ::umask(old_umask);
  if (rc != 0) {
    return Status::FromErrno(bind_errno, "cannot bind the status socket " + path);
  }

  ScoreboardServer server;
  server.fd_ = std::move(fd);
  server.group_ = group;
  server.owner_ = ::getpid();
  if (::lstat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "cannot inspect " + path);
  // From here on a failure returns early and `server`'s destructor removes the file.
  server.path_ = path;
  server.dev_ = st.st_dev;
  server.ino_ = st.st_ino;
  if (group != static_cast<gid_t>(-1)) {
    if (::lchown(path.c_str(), static_cast<uid_t>(-1), group) != 0) {
      return Status::FromErrno(errno, "cannot give " + path + " to group " + std::to_string(group));
    }
    if (::chmod(path.c_str(), 0660) != 0) return Status::FromErrno(errno, "cannot chmod " + path);
  }
  if (::listen(server.fd_.get(), kBacklog) != 0) {
    return Status::FromErrno(errno, "cannot listen on the status socket " + path);
  }
  return server;
}

ScoreboardServer::ScoreboardServer(ScoreboardServer&& other) noexcept { *this = std::move(other); }

ScoreboardServer& ScoreboardServer::operator=(ScoreboardServer&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = std::move(other.fd_);
    path_ = std::exchange(other.path_, std::string());
    group_ = other.group_;
    dev_ = other.dev_;
    ino_ = other.ino_;
    owner_ = other.owner_;
  }
  return *this;
}

ScoreboardServer::~ScoreboardServer() { Close(); }

void ScoreboardServer::Close() {
  fd_.reset();
  if (path_.empty()) return;
  struct stat st {};
  if (owner_ == ::getpid() && ::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

void ScoreboardServer::ServePending(const Scoreboard& board,
                                    std::chrono::steady_clock::time_point now) {
  if (!fd_.valid()) return;
  std::string table;
  for (int i = 0; i < kMaxAcceptsPerCall; ++i) {
    UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!c.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: all served; anything else: retried on the next loop turn
    }
    PeerCredentials peer;
    if (ReadPeer(c.get(), &peer) && MayReadStatus(peer, group_, ::geteuid())) {
      if (table.empty()) table = RenderScoreboard(board, now);
      SendWithoutWaiting(c.get(), table);
    }
  }
}

}  // namespace backupd::daemon
