// tests: the client against peers that are not backupd (HTTP, TLS, SSH, garbage, hang-up, nothing
// listening), each a fake server on 127.0.0.1 port 0 in a thread of this process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "client/client.h"
#include "client/connection.h"

namespace backupd::client {
namespace {

using Clock = std::chrono::steady_clock;

// The client's timeout in these tests: every answer that is not v1 must be noticed long before it.
constexpr std::chrono::seconds kTimeout{30};
constexpr std::chrono::seconds kPromptly{5};

int LoopbackSocket(uint16_t* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Accepts one connection, sends `greeting` at once (as an SSH server sends its banner), and after
// the first request bytes arrive sends `answer`; then it hangs up (`hang_up`) or, like a server
// waiting for the rest of a request, holds the connection until the client closes it.
class FakeServer {
 public:
  FakeServer(std::string greeting, std::string answer, bool hang_up = false) {
    listen_fd_ = LoopbackSocket(&port_);
    if (listen_fd_ < 0 || listen(listen_fd_, 1) < 0) return;
    thread_ = std::thread([this, greeting, answer, hang_up] { Serve(greeting, answer, hang_up); });
  }
  ~FakeServer() {
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }
  Endpoint endpoint() const { return {"127.0.0.1", port_}; }
  std::string where() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void Serve(const std::string& greeting, const std::string& answer, bool hang_up) {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    char buf[4096];
    if (send(fd, greeting.data(), greeting.size(), MSG_NOSIGNAL) >= 0 &&
        recv(fd, buf, sizeof(buf), 0) > 0 &&
        send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) >= 0 && !hang_up) {
      pfd = {fd, POLLIN, 0};
      while (poll(&pfd, 1, 10000) == 1 && recv(fd, buf, sizeof(buf), 0) > 0) {
      }
    }
    close(fd);
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Lists over a fresh connection to `server`; returns the outcome and how long it took.
Status ListAgainst(const FakeServer& server, Clock::duration* elapsed) {
  const Clock::time_point start = Clock::now();
  Result<Connection> conn = Connection::Open(server.endpoint(), kTimeout);
  if (!conn.ok()) return conn.status();
  Client client(std::move(*conn), 42);
  Result<ListReply> r = client.List();
  *elapsed = Clock::now() - start;
  EXPECT_FALSE(client.connected());
  return r.status();
}

TEST(ForeignPeerTest, HttpServerIsNamedAtOnce) {
  FakeServer server("", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  Clock::duration elapsed{};
  Status st = ListAgainst(server, &elapsed);
  EXPECT_EQ(st.code(), Status::Code::kInvalid);
  EXPECT_EQ(st.message(),
            server.where() + " is not a backupd server (it answers like an HTTP server)");
  EXPECT_LT(elapsed, kPromptly);
}

TEST(ForeignPeerTest, TlsServerIsNamedAtOnce) {
  // A TLS alert record: type 21, version 3.1, length 2, fatal, decode_error.
  FakeServer server("", std::string("\x15\x03\x01\x00\x02\x02\x32", 7));
  Clock::duration elapsed{};
  Status st = ListAgainst(server, &elapsed);
  EXPECT_EQ(st.message(),
            server.where() + " is not a backupd server (it answers like a TLS server)");
  EXPECT_LT(elapsed, kPromptly);
}

TEST(ForeignPeerTest, SshServerIsNamedAtOnce) {
  FakeServer server("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "");
  Clock::duration elapsed{};
  Status st = ListAgainst(server, &elapsed);
  EXPECT_EQ(st.message(),
            server.where() + " is not a backupd server (it answers like an SSH server)");
  EXPECT_LT(elapsed, kPromptly);
}

// Fewer bytes than a v1 header, and then silence: the first byte already rules out backupd.
TEST(ForeignPeerTest, ShortGarbageFailsWithoutWaitingForTheTimeout) {
  FakeServer server("", "no\n");
  Clock::duration elapsed{};
  Status st = ListAgainst(server, &elapsed);
  EXPECT_EQ(st.message(),
            server.where() + " is not a backupd server (its answer begins with bytes 6e 6f 0a)");
  EXPECT_LT(elapsed, kPromptly);
}

TEST(ForeignPeerTest, ServerThatHangsUpWithoutAnsweringIsNamed) {
  FakeServer server("", "", /*hang_up=*/true);
  Clock::duration elapsed{};
  Status st = ListAgainst(server, &elapsed);
  EXPECT_EQ(st.code(), Status::Code::kClosed);
  EXPECT_EQ(st.message(),
            server.where() + " closed the connection without answering (is it a backupd server?)");
  EXPECT_LT(elapsed, kPromptly);
}

// A silent server is not judged: it gets the whole (here short) timeout.
TEST(ForeignPeerTest, SilentServerTimesOut) {
  FakeServer server("", "");
  Result<Connection> conn = Connection::Open(server.endpoint(), std::chrono::milliseconds(300));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  Client client(std::move(*conn), 42);
  const Clock::time_point start = Clock::now();
  Result<ListReply> r = client.List();
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(250));
}

TEST(ForeignPeerTest, RefusedConnectionAsksWhetherBackupdRuns) {
  // Bound but not listening: a connection to it is refused, and no other test can take the port.
  uint16_t port = 0;
  int fd = LoopbackSocket(&port);
  ASSERT_GE(fd, 0);
  Result<Connection> conn = Connection::Open({"127.0.0.1", port}, kTimeout);
  close(fd);
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.status().message(), "connect to 127.0.0.1:" + std::to_string(port) +
                                         ": Connection refused; is backupd running there?");
}

}  // namespace
}  // namespace backupd::client
