// tests (any privilege): Connection over a socketpair — a small read taking what is waiting in
// one recv and serving the rest from memory, Unread in front of that, and the byte count.
#include "worker/connection.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>

#include <gtest/gtest.h>

namespace backupd::worker {
namespace {

// The server end (non-blocking, owned by a Connection) and the client end of a socketpair.
struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    EXPECT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    server_fd = fds[0];
    conn = std::make_unique<Connection>(UniqueFd(fds[0]), "peer");
    client = UniqueFd(fds[1]);
  }
  void Send(const std::string& bytes) {
    ASSERT_EQ(::write(client.get(), bytes.data(), bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }
  // Bytes still in the server end's receive queue.
  int Queued() const {
    int n = -1;
    EXPECT_EQ(::ioctl(server_fd, FIONREAD, &n), 0);
    return n;
  }
  std::string Read(size_t max) {
    std::string buf(max, '\0');
    Result<size_t> got = conn->ReadSome(buf.data(), max, Clock::now() + std::chrono::seconds(5));
    if (!got.ok()) return "<" + got.status().ToString() + ">";
    buf.resize(*got);
    return buf;
  }
  int server_fd = -1;
  std::unique_ptr<Connection> conn;
  UniqueFd client;
};

TEST(ConnectionTest, ASmallReadTakesWhatIsWaitingInOneRecvAndServesTheRestInOrder) {
  Pair p;
  p.Send(
      "header--"
      "name"
      "payload!"
      "digest");
  ASSERT_EQ(p.Queued(), 26);
  EXPECT_EQ(p.Read(8), "header--");
  EXPECT_EQ(p.Queued(), 0) << "the rest was left in the socket: one recv per field";
  EXPECT_EQ(p.conn->bytes_in(), 8u) << "bytes read ahead are counted when they are served";
  EXPECT_TRUE(p.conn->HasInput());
  EXPECT_TRUE(p.conn->WaitForRequest(Clock::now(), nullptr).ok());
  EXPECT_EQ(p.Read(4), "name");
  EXPECT_EQ(p.Read(100), "payload!digest");
  EXPECT_EQ(p.conn->bytes_in(), 26u);
  EXPECT_FALSE(p.conn->HasInput());
  p.Send("next");
  EXPECT_EQ(p.Read(2), "ne");
  EXPECT_EQ(p.Read(2), "xt");
}

TEST(ConnectionTest, UnreadGoesInFrontOfBytesReadAhead) {
  Pair p;
  p.Send("abcdefgh");
  ASSERT_EQ(p.Read(3), "abc");
  p.conn->Unread("abc", 3);
  EXPECT_EQ(p.conn->bytes_in(), 0u);
  EXPECT_EQ(p.Read(5), "abcde");
  EXPECT_EQ(p.Read(5), "fgh");
  EXPECT_EQ(p.conn->bytes_in(), 8u);
}

TEST(ConnectionTest, ALargeReadLeavesWhatItDidNotAskForInTheSocket) {
  Pair p;
  const std::string bytes(Connection::kReadAhead + 10, 'x');
  // A socketpair's buffer may take less than this at once: send what it takes.
  ASSERT_EQ(::fcntl(p.client.get(), F_SETFL, O_NONBLOCK), 0);
  const ssize_t sent = ::write(p.client.get(), bytes.data(), bytes.size());
  ASSERT_GT(sent, static_cast<ssize_t>(Connection::kReadAhead));
  EXPECT_EQ(p.Read(Connection::kReadAhead).size(), Connection::kReadAhead);
  EXPECT_EQ(p.Queued(), sent - static_cast<ssize_t>(Connection::kReadAhead));
}

}  // namespace
}  // namespace backupd::worker
