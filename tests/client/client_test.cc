// tests: the client library's requests and strict response reading, with no server.
// Canned answers are written into the other end of a socketpair before the request is sent: a v1
// client only reads after writing, so no thread is needed.
#include "client/client.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "protocol/wire.h"
#include "tests/harness/temp_dir.h"

namespace backupd::client {
namespace {

using protocol::ResponseCode;

std::string U16(uint16_t v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string U32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// A response built by hand, independently of protocol::Encode*, so the test checks the bytes.
std::string Response(uint16_t status, const std::string& name, const std::string* payload = nullptr,
                     uint8_t version = 1) {
  std::string r(1, static_cast<char>(version));
  r += U16(status) + U16(static_cast<uint16_t>(name.size())) + name;
  if (payload != nullptr) r += U32(static_cast<uint32_t>(payload->size())) + *payload;
  return r;
}

std::string Request(uint32_t user, uint8_t op, const std::string& name) {
  return U32(user) + std::string(1, '\x01') + std::string(1, static_cast<char>(op)) +
         U16(static_cast<uint16_t>(name.size())) + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::set<std::string> Entries(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  closedir(d);
  return names;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    peer_ = sv[1];
    client_ = std::make_unique<Client>(Connection::Adopt(sv[0], std::chrono::seconds(5)), kUser);
  }
  void TearDown() override {
    client_.reset();
    if (peer_ >= 0) close(peer_);
  }

  void Answer(const std::string& bytes) {
    ASSERT_EQ(write(peer_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  // The peer stops sending: the client then reads end-of-file after what was queued.
  void HangUp() { ASSERT_EQ(shutdown(peer_, SHUT_WR), 0); }
  // Everything the client has sent so far.
  std::string Sent() {
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = recv(peer_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  static constexpr uint32_t kUser = 0x01020304;
  int peer_ = -1;
  std::unique_ptr<Client> client_;
  testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(ClientTest, ListNoFiles) {
  Answer(Response(1002, ""));
  Result<ListReply> r = client_->List();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reply.status, 1002);
  EXPECT_TRUE(r->names.empty());
  EXPECT_EQ(Sent(), std::string("\x04\x03\x02\x01\x01\xca\x00\x00", 8));
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, ListNames) {
  const std::string payload = "a\nb/c d\n";
  Answer(Response(211, std::string(32, 'Z'), &payload));
  Result<ListReply> r = client_->List();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->reply.status, 211);
  EXPECT_EQ(r->reply.name, std::string(32, 'Z'));
  EXPECT_EQ(r->names, (std::vector<std::string>{"a", "b/c d"}));
}

TEST_F(ClientTest, ListPayloadWithoutFinalNewlineIsRefused) {
  const std::string payload = "a\nb";
  Answer(Response(211, std::string(32, 'Z'), &payload));
  Result<ListReply> r = client_->List();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, BackupSendsHeaderSizeAndBytes) {
  const std::string content("bin\0ary\xff", 8);
  WriteFile(dir_ + "/f", content);
  Answer(Response(212, "docs/f"));
  Result<Reply> r = client_->Backup("docs/f", dir_ + "/f");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 212);
  EXPECT_EQ(r->name, "docs/f");
  EXPECT_EQ(r->bytes, 8u);
  EXPECT_EQ(Sent(), Request(kUser, 100, "docs/f") + U32(8) + content);
}

TEST_F(ClientTest, BackupOfMissingFileSendsNothingAndKeepsConnection) {
  Result<Reply> r = client_->Backup("x", dir_ + "/missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(Sent(), "");
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, BackupOver4GiBIsRefusedLocally) {
  const std::string path = dir_ + "/huge";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  // Sparse: no blocks are written.
  ASSERT_EQ(ftruncate(fd, off_t{1} << 32), 0);
  close(fd);
  Result<Reply> r = client_->Backup("huge", path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kTooLarge);
  EXPECT_EQ(Sent(), "");
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, BackupRefusedEarlyReportsTheServersAnswer) {
  WriteFile(dir_ + "/f", std::string(4 << 20, 'x'));
  // The server answers 1003 and hangs up without reading the payload.
  Answer(Response(1003, ""));
  close(peer_);
  peer_ = -1;
  Result<Reply> r = client_->Backup("f", dir_ + "/f");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1003);
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, RestoreWritesWholeFileAndLeavesNoTemp) {
  const std::string payload("restored\0data", 13);
  Answer(Response(210, "a/b", &payload));
  Result<Reply> r = client_->RestoreToFile("a/b", dir_ + "/out", Existing::kKeep);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 210);
  EXPECT_EQ(r->bytes, 13u);
  EXPECT_EQ(ReadFile(dir_ + "/out"), payload);
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"out"});
  EXPECT_EQ(Sent(), Request(kUser, 200, "a/b"));
}

TEST_F(ClientTest, RestoreReplacesAnExistingFileOnlyWhenAsked) {
  WriteFile(dir_ + "/out", "old");
  const std::string payload = "new";
  Answer(Response(210, "n", &payload) + Response(210, "n", &payload));
  // The file may appear between the command line's check and the end of the transfer: kKeep
  // still never replaces it.
  Result<Reply> r = client_->RestoreToFile("n", dir_ + "/out", Existing::kKeep);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "keep " + dir_ + "/out, created meanwhile: File exists");
  EXPECT_EQ(ReadFile(dir_ + "/out"), "old");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"out"});
  EXPECT_TRUE(client_->connected());

  r = client_->RestoreToFile("n", dir_ + "/out", Existing::kReplace);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadFile(dir_ + "/out"), "new");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"out"});
}

TEST_F(ClientTest, RestoreNotFoundLeavesOutputUntouched) {
  WriteFile(dir_ + "/out", "old");
  Answer(Response(1001, "a/b"));
  Result<Reply> r = client_->RestoreToFile("a/b", dir_ + "/out", Existing::kReplace);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1001);
  EXPECT_EQ(ReadFile(dir_ + "/out"), "old");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"out"});
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientTest, ShortRestorePayloadIsAnErrorAndLeavesNoPartialOutput) {
  WriteFile(dir_ + "/out", "old");
  // The size field promises 100 bytes; only 40 arrive before the server hangs up.
  const std::string answer =
      std::string(1, '\x01') + U16(210) + U16(1) + "n" + U32(100) + std::string(40, 'p');
  Answer(answer);
  HangUp();
  Result<Reply> r = client_->RestoreToFile("n", dir_ + "/out", Existing::kReplace);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kClosed);
  EXPECT_EQ(ReadFile(dir_ + "/out"), "old");
  EXPECT_EQ(Entries(dir_), std::set<std::string>{"out"});
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, WrongVersionClosesTheConnection) {
  Answer(Response(212, "x", nullptr, 2));
  Result<Reply> r = client_->Delete("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_NE(r.status().message().find("version 2"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(client_->connected());
  Result<Reply> again = client_->Delete("y");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kClosed);
}

TEST_F(ClientTest, StatusThatDoesNotFitTheOpIsRefused) {
  const std::string payload = "p";
  Answer(Response(210, "x", &payload));
  Result<Reply> r = client_->Delete("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, UnknownStatusIsRefused) {
  Answer(Response(999, ""));
  EXPECT_FALSE(client_->List().ok());
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientTest, OverlongNameLenIsRefusedBeforeReadingIt) {
  Answer(std::string(1, '\x01') + U16(1001) + U16(4097));
  Result<Reply> r = client_->Delete("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalid);
}

TEST_F(ClientTest, TruncatedHeaderIsClosed) {
  Answer(std::string("\x01\xd4", 2));
  HangUp();
  Result<Reply> r = client_->Delete("x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kClosed);
}

TEST_F(ClientTest, SeveralRequestsOnOneConnection) {
  const std::string file = "abc";
  WriteFile(dir_ + "/f", "abc");
  const std::string list = "f\n";
  Answer(Response(212, "f") + Response(211, std::string(32, 'q'), &list) +
         Response(210, "f", &file) + Response(212, "f") + Response(1001, "f"));
  Result<Reply> b = client_->Backup("f", dir_ + "/f");
  Result<ListReply> l = client_->List();
  Result<Reply> g = client_->RestoreToFile("f", dir_ + "/back", Existing::kReplace);
  Result<Reply> d = client_->Delete("f");
  Result<Reply> d2 = client_->Delete("f");
  ASSERT_TRUE(b.ok() && l.ok() && g.ok() && d.ok() && d2.ok());
  EXPECT_EQ(b->status, 212);
  EXPECT_EQ(l->names, std::vector<std::string>{"f"});
  EXPECT_EQ(g->status, 210);
  EXPECT_EQ(ReadFile(dir_ + "/back"), "abc");
  EXPECT_EQ(d->status, 212);
  EXPECT_EQ(d2->status, 1001);
  EXPECT_EQ(Sent(), Request(kUser, 100, "f") + U32(3) + "abc" + Request(kUser, 202, "") +
                        Request(kUser, 200, "f") + Request(kUser, 201, "f") +
                        Request(kUser, 201, "f"));
}

TEST_F(ClientTest, RestoreToFdStreamsPayload) {
  const std::string payload(100000, 'r');
  Answer(Response(210, "x", &payload));
  const std::string path = dir_ + "/fd";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  uint64_t last = 0;
  Result<Reply> r = client_->RestoreToFd("x", fd, [&last](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, 100000u);
    EXPECT_GT(done, last);
    last = done;
  });
  close(fd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(last, 100000u);
  EXPECT_EQ(ReadFile(path), payload);
}

}  // namespace
}  // namespace backupd::client
