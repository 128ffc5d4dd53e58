// tests (any user): the client's TCP socket as Connection::Open leaves it, found among this
// process's descriptors by its address.
#include "client/connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>

#include "base/unique_fd.h"

namespace backupd::client {
namespace {

// The port a socket is bound to, or 0 when `fd` is not an IPv4 socket.
uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      addr.sin_family != AF_INET) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

// This process's descriptor bound to local `port` other than `except`, or -1.
int DescriptorOnPort(uint16_t port, int except) {
  int found = -1;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (e->d_name[0] != '.' && fd != except && fd != dirfd(dir) && LocalPort(fd) == port) {
      found = fd;
    }
  }
  closedir(dir);
  return found;
}

// A request's header and payload are written apart; with Nagle the payload would wait ~40 ms for
// the server's delayed ACK of the header.
TEST(ConnectionTest, OpenTurnsNagleOff) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener.get(), 1), 0);

  Result<Connection> conn =
      Connection::Open({"127.0.0.1", LocalPort(listener.get())}, std::chrono::seconds(30));
  ASSERT_TRUE(conn.ok()) << conn.status().message();
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  UniqueFd accepted(
      accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());

  const int client_fd = DescriptorOnPort(ntohs(peer.sin_port), accepted.get());
  ASSERT_GE(client_fd, 0) << "the client's socket is not among this process's descriptors";
  int nodelay = 0;
  socklen_t size = sizeof nodelay;
  ASSERT_EQ(getsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &size), 0);
  EXPECT_EQ(nodelay, 1);
}

}  // namespace
}  // namespace backupd::client
