// test process (root): protocol v2 against the real daemon over raw sockets — requests before a
// login refused, foreign protocols on the plain port refused promptly, and a connection the server
// ends seen ending right after its answer (logins: login_test.cc).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <string>

#include "base/unique_fd.h"
#include "protocol/wire_v2.h"
#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

namespace v2 = protocol::v2;

// A plain socket whose every read gives up after `timeout`, so a server that hangs fails the test.
UniqueFd ConnectTo(uint16_t port, std::chrono::seconds timeout = std::chrono::seconds(5)) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return fd;
}

bool SendAll(int fd, std::string_view bytes) {
  return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Everything the server sends until it closes the connection (or the read times out).
std::string ReadToClose(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string V2Message(uint16_t status, std::string_view message) {
  return v2::EncodeMessageResponse(static_cast<v2::ResponseCode>(status), {}, message);
}

using ProtocolV2Test = DaemonTest;

TEST_F(ProtocolV2Test, RequestBeforeLoginIs1013AndStoresNothing) {
  UniqueFd fd = ConnectTo(daemon_.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd.get(), v2::EncodeRequestPrefix(4102, v2::Op::kBackup, "a.txt", 5) +
                                    "hello" + std::string(32, '\0')));
  EXPECT_EQ(ReadToClose(fd.get()), V2Message(1013, "log in first (AUTH_START)"));
  EXPECT_FALSE(PathExists(UserDir(4102)));
}

TEST_F(ProtocolV2Test, ForeignProtocolsOnThePlainPortAreRefusedPromptly) {
  const struct {
    std::string bytes;
    v2::Sniffed what;
  } cases[] = {
      // The start of a real TLS 1.2 ClientHello record.
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(501, '\x5a'),
       v2::Sniffed::kTls},
      {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", v2::Sniffed::kHttp},
  };
  for (const auto& c : cases) {
    UniqueFd fd = ConnectTo(daemon_.port(), std::chrono::seconds(2));
    ASSERT_TRUE(fd.valid());
    const auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(SendAll(fd.get(), c.bytes));
    EXPECT_EQ(ReadToClose(fd.get()), v2::Refusal(c.what));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  }
  // The daemon still serves version 1.
  EXPECT_TRUE(HasStatus(CallOnce(4103, protocol::Op::kList, ""), kNoFiles));
}

// The upload step hook (test builds only) stops the server of a connection it ends at the start
// of its drain, after its answer.
class DrainingTest : public DaemonTest {
 protected:
  void SetUp() override {
    ::setenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP", "draining", 1);
    DaemonTest::SetUp();
    ::unsetenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP");
  }
};

// A client that learns only from the end that it must ask again (a cut-off listing) does not
// wait for the server's drain (up to 200 ms) to see it: the end comes while the server, stopped
// before its drain, still holds the connection.
TEST_F(DrainingTest, TheClientSeesTheEndBeforeTheServerDrainsAndCloses) {
#ifndef BACKUPD_TEST_HOOKS
  GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
  UniqueFd fd = ConnectTo(daemon_.port(), std::chrono::seconds(10));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(SendAll(fd.get(), v2::EncodeRequestPrefix(4102, v2::Op::kList, "", 0)));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(n, 0) << "no end of the stream within 10 s";
  EXPECT_EQ(got, V2Message(1013, "log in first (AUTH_START)"));
  EXPECT_GT(ResumeStoppedDescendant(daemon_.pid(), Millis(10000)), 0)
      << "the server did not stop at its drain; its log: " << daemon_.Log();
}

}  // namespace
}  // namespace backupd::testing
