// test process (root or not): the supervisor's listening sockets as BindAll leaves them, seen from
// a connection accepted on one, as a worker accepts it.
#include "daemon/listeners.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace backupd::daemon {
namespace {

// The worker's seccomp filter has no setsockopt: an accepted connection must inherit TCP_NODELAY
// from the listener, or every response's header, payload and trailer waits on delayed ACKs.
TEST(ListenersTest, AcceptedConnectionsHaveNagleOff) {
  Result<std::vector<Listener>> listeners = BindAll({conf::ListenAddress{"127.0.0.1", 0}}, 4);
  ASSERT_TRUE(listeners.ok()) << listeners.status().message();
  ASSERT_EQ(listeners->size(), 1u);
  const std::string& bound = listeners->front().bound;
  const auto port = static_cast<uint16_t>(std::stoi(bound.substr(bound.rfind(':') + 1)));

  UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(client.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  UniqueFd accepted(accept4(listeners->front().fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted.valid());

  int nodelay = 0;
  socklen_t size = sizeof nodelay;
  ASSERT_EQ(getsockopt(accepted.get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &size), 0);
  EXPECT_EQ(nodelay, 1);
}

}  // namespace
}  // namespace backupd::daemon
