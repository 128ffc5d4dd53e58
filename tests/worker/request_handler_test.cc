// tests (unprivileged or root): HandleRequest over a socketpair on a real temp storage folder —
// pipelined requests, refusals, and when the connection stays usable.
#include "worker/request_handler.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "protocol/wire.h"
#include "tests/harness/temp_dir.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;
using protocol::EncodeRequestPrefix;
using protocol::EncodeResponsePrefix;
using protocol::Op;

constexpr uint32_t kUser = 42;
constexpr uint16_t kOk = 212;
constexpr uint16_t kRestoreOk = 210;
constexpr uint16_t kListOk = 211;
constexpr uint16_t kError = 1003;

class RequestHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_fd_ = ::open(root_.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    ASSERT_GE(storage_fd_, 0);
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = fds[0];
    // The worker's side is non-blocking, as accept hands it over.
    ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    conn_ = std::make_unique<Connection>(UniqueFd(fds[1]), "test-peer");
    ctx_.sys = &RealSys();
    ctx_.storage_fd = storage_fd_;
    ctx_.max_file_size = 1024;
    ctx_.rng = &rng_;
  }
  void TearDown() override {
    conn_.reset();
    ::close(client_);
    ::close(storage_fd_);
  }

  void Send(const std::string& bytes) {
    ASSERT_EQ(::send(client_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  // Ends the client's side, as a client that sent all it will.
  void Hangup() { ASSERT_EQ(::shutdown(client_, SHUT_WR), 0); }
  Handled Handle() {
    const Deadline deadline = Clock::now() + std::chrono::seconds(5);
    return HandleRequest(*conn_, ctx_, {deadline, deadline});
  }
  // Everything the worker has answered so far.
  std::string Answers() {
    std::string out;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(client_, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Whether the worker would find another request waiting (rather than the client's EOF).
  bool NextRequestWaiting() {
    return conn_->WaitForRequest(Clock::now() + std::chrono::seconds(5), nullptr).ok();
  }

  testing::TempDir root_;
  int storage_fd_ = -1;
  int client_ = -1;
  std::unique_ptr<Connection> conn_;
  std::mt19937_64 rng_{7};
  HandlerContext ctx_;
};

TEST_F(RequestHandlerTest, PipelinedRequestsAreServedOneAtATime) {
  const std::string backup = EncodeRequestPrefix(kUser, Op::kBackup, "/d/a.txt", 5) + "hello";
  const std::string restore = EncodeRequestPrefix(kUser, Op::kRestore, "d/a.txt", 0);
  const std::string list = EncodeRequestPrefix(kUser, Op::kList, "", 0);
  const std::string del = EncodeRequestPrefix(kUser, Op::kDelete, "d/a.txt", 0);
  // All four arrive in one segment: each must end exactly where its fields say.
  Send(backup + restore + list + del);
  Hangup();

  std::mt19937_64 expected_rng{7};
  const std::string list_name = protocol::RandomListName(expected_rng);
  const struct {
    const std::string& request;
    uint8_t op;
    uint16_t status;
    std::string answer;
  } steps[] = {
      {backup, 100, kOk, EncodeResponsePrefix(kOk, "d/a.txt", 0)},
      {restore, 200, kRestoreOk, EncodeResponsePrefix(kRestoreOk, "d/a.txt", 5) + "hello"},
      {list, 202, kListOk, EncodeResponsePrefix(kListOk, list_name, 8) + "d/a.txt\n"},
      {del, 201, kOk, EncodeResponsePrefix(kOk, "d/a.txt", 0)},
  };
  for (const auto& step : steps) {
    ASSERT_TRUE(NextRequestWaiting());
    const Handled h = Handle();
    EXPECT_TRUE(h.keep_open);
    EXPECT_EQ(h.record.op, step.op);
    EXPECT_EQ(h.record.status, step.status);
    EXPECT_EQ(h.record.user_id, kUser);
    EXPECT_EQ(h.record.bytes_in, step.request.size());
    EXPECT_EQ(Answers(), step.answer);
  }
  EXPECT_FALSE(NextRequestWaiting());
}

TEST_F(RequestHandlerTest, OversizedUploadIsRefusedOnItsSizeFieldAlone) {
  ctx_.max_file_size = 4;
  const std::string prefix = EncodeRequestPrefix(kUser, Op::kBackup, "f", 5);
  Send(prefix + "12345");
  const Handled h = Handle();
  EXPECT_FALSE(h.keep_open);
  EXPECT_EQ(h.record.status, kError);
  EXPECT_STREQ(h.record.text, "f");
  EXPECT_NE(h.record.detail[0], '\0');
  // The name was valid, so it is echoed; not one payload byte was read.
  EXPECT_EQ(Answers(), EncodeResponsePrefix(kError, "f", 0));
  EXPECT_EQ(h.record.bytes_in, prefix.size());
  EXPECT_FALSE(fs::exists(fs::path(root_.path()) / std::to_string(kUser) / "f"));
}

TEST_F(RequestHandlerTest, MalformedRequestsAreAnsweredWithoutANameAndClose) {
  protocol::RequestHeader bad_version;
  bad_version.user_id = kUser;
  bad_version.version = 2;
  bad_version.op = 200;
  bad_version.name_len = 1;
  const auto header = protocol::EncodeRequestHeader(bad_version);
  Send(std::string(header.begin(), header.end()) + "aNEXT");
  const Handled h = Handle();
  EXPECT_FALSE(h.keep_open);
  EXPECT_EQ(h.record.op, 200);
  EXPECT_EQ(h.record.user_id, kUser);
  EXPECT_EQ(h.record.status, kError);
  EXPECT_EQ(h.record.bytes_in, protocol::kRequestHeaderSize);
  EXPECT_EQ(Answers(), EncodeResponsePrefix(kError, "", 0));
}

TEST_F(RequestHandlerTest, RefusedNameIsNotEchoed) {
  Send(EncodeRequestPrefix(kUser, Op::kRestore, "a/../b", 0));
  const Handled h = Handle();
  EXPECT_FALSE(h.keep_open);
  EXPECT_STREQ(h.record.text, "");
  EXPECT_EQ(Answers(), EncodeResponsePrefix(kError, "", 0));
}

TEST_F(RequestHandlerTest, ClientGoneMidRequestGetsNoAnswer) {
  const std::string req = EncodeRequestPrefix(kUser, Op::kDelete, "named", 0);
  Send(req.substr(0, protocol::kRequestHeaderSize + 2));
  Hangup();
  const Handled h = Handle();
  EXPECT_FALSE(h.keep_open);
  EXPECT_EQ(h.record.status, 0);
  // What was decoded is still reported, with the reason.
  EXPECT_EQ(h.record.op, 201);
  EXPECT_EQ(h.record.user_id, kUser);
  EXPECT_NE(h.record.detail[0], '\0');
  EXPECT_EQ(Answers(), "");
}

TEST_F(RequestHandlerTest, FailedUploadDrainsItsPayloadAndKeepsTheConnection) {
  // A file where the user's folder belongs: the upload cannot start.
  std::ofstream(fs::path(root_.path()) / std::to_string(kUser)) << "in the way";
  const std::string backup = EncodeRequestPrefix(kUser, Op::kBackup, "f", 6) + "abcdef";
  const std::string restore = EncodeRequestPrefix(kUser + 1, Op::kRestore, "g", 0);
  Send(backup + restore);
  const Handled h = Handle();
  EXPECT_TRUE(h.keep_open);
  EXPECT_EQ(h.record.status, kError);
  EXPECT_EQ(h.record.bytes_in, backup.size());
  EXPECT_EQ(Answers(), EncodeResponsePrefix(kError, "f", 0));
  // The next request starts right after the drained payload.
  const Handled next = Handle();
  EXPECT_TRUE(next.keep_open);
  EXPECT_EQ(next.record.op, 200);
  EXPECT_EQ(next.record.user_id, kUser + 1);
  EXPECT_EQ(Answers(), EncodeResponsePrefix(1001, "g", 0));
}

}  // namespace
}  // namespace backupd::worker
