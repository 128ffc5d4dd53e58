// tests: the v2 client library against the scripted fake server over a socketpair, the server
// in a thread: the login and its refusals, each op, digests both ways, pipelining.
#include "client/client_v2.h"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "tests/client/fake_v2_server.h"
#include "tests/harness/temp_dir.h"

namespace backupd::client {
namespace {

using testing::FakeV2Options;
using testing::FakeV2Server;

constexpr uint32_t kUser = 42;
constexpr char kSecret[] = "fake-secret-for-tests";

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every entry but "." and "..", hidden temp files included.
size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    n += name != "." && name != "..";
  }
  closedir(d);
  return n;
}

// One connection: the fake server serves the socketpair's far end in a thread until the client
// closes its end (when the test's ClientV2 goes).
class ClientV2Test : public ::testing::Test {
 protected:
  void Start(FakeV2Options options = {}) {
    server_ = std::make_unique<FakeV2Server>(std::move(options));
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    thread_ = std::thread([this, fd = sv[1]] {
      server_->Serve(fd);
      close(fd);
    });
    client_ = std::make_unique<ClientV2>(Connection::Adopt(sv[0], std::chrono::seconds(10)), kUser);
  }
  void Stop() {
    client_.reset();
    if (thread_.joinable()) thread_.join();
  }
  void TearDown() override { Stop(); }

  void LogIn() {
    Result<ReplyV2> r = client_->Login(kSecret);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->status, 221);
  }

  // Backs up one file and returns its outcome.
  Result<ReplyV2> BackupOne(const std::string& name, const std::string& content) {
    const std::string path = dir_ + "/upload";
    WriteFile(path, content);
    Result<ReplyV2> outcome = Status::Invalid("not reported");
    client_->Backup({{path, name}}, [&](size_t, const Result<ReplyV2>& r) { outcome = r; });
    return outcome;
  }

  // Against a server that sends a wrong digest, a restore of `content` is reported as such and
  // leaves neither the output nor a temp file, and the connection goes on.
  void ExpectACorruptRestoreLeavesNoFile(const std::string& content) {
    FakeV2Options options;
    options.corrupt_restore_digest = true;
    Start(options);
    LogIn();
    ASSERT_TRUE(BackupOne("a", content).ok());
    unlink((dir_ + "/upload").c_str());
    Result<ReplyV2> r = client_->RestoreToFile("a", dir_ + "/out", Existing::kReplace);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 210);
    EXPECT_FALSE(r->digest_ok);
    EXPECT_EQ(access((dir_ + "/out").c_str(), F_OK), -1);
    EXPECT_EQ(CountEntries(dir_), 0u) << "a temp file was left behind";
    EXPECT_TRUE(client_->connected());
  }

  std::unique_ptr<FakeV2Server> server_;
  std::unique_ptr<ClientV2> client_;
  std::thread thread_;
  testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(ClientV2Test, LogsInAndRunsEveryOp) {
  Start();
  LogIn();
  Result<ReplyV2> r = BackupOne("docs/a.txt", "hello");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 212);

  Result<ListReplyV2> list = client_->List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->reply.status, 211);
  ASSERT_EQ(list->entries.size(), 1u);
  EXPECT_EQ(list->entries[0].name, "docs/a.txt");
  EXPECT_EQ(list->entries[0].size, 5u);
  EXPECT_EQ(list->entries[0].mtime_ns, 1700000000123456789);
  EXPECT_EQ(list->entries[0].sha256[0], 0x2c);  // SHA-256("hello") = 2cf24dba...

  r = client_->RestoreToFile("docs/a.txt", dir_ + "/out", Existing::kKeep);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 210);
  EXPECT_TRUE(r->digest_ok);
  EXPECT_EQ(ReadFile(dir_ + "/out"), "hello");

  r = client_->Delete("docs/a.txt");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 212);
  r = client_->Delete("docs/a.txt");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1001);
  EXPECT_EQ(r->message, "no file named docs/a.txt");
  list = client_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->reply.status, 1002);
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientV2Test, RefusesAServerThatCannotProveTheVerifier) {
  FakeV2Options options;
  options.login = FakeV2Options::Login::kForgedSignature;
  Start(options);
  Result<ReplyV2> r = client_->Login(kSecret);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kDenied);
  EXPECT_EQ(r.status().message(),
            "server could not prove it knows user 42's verifier (not the real backupd?)");
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientV2Test, WrongSecretIs1014) {
  Start();
  Result<ReplyV2> r = client_->Login("another-secret");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1014);
  EXPECT_FALSE(client_->connected());
}

TEST_F(ClientV2Test, BusyIs1015WithTheServersMessage) {
  FakeV2Options options;
  options.login = FakeV2Options::Login::kBusy;
  Start(options);
  Result<ReplyV2> r = client_->Login(kSecret);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1015);
  EXPECT_EQ(r->message, "too many failed logins from 127.0.0.1; try later");
}

TEST_F(ClientV2Test, UploadDigestMismatchIs1016AndKeepsTheConnection) {
  FakeV2Options options;
  options.refuse_upload_digest = true;
  Start(options);
  LogIn();
  Result<ReplyV2> r = BackupOne("a", "data");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 1016);
  EXPECT_TRUE(client_->connected());
}

TEST_F(ClientV2Test, RestoreDigestMismatchLeavesNoFile) {
  ExpectACorruptRestoreLeavesNoFile("data");
}

// Over a MiB (the client's chunk) a restore's digest is computed on the client's hashing thread
// (ChunkDigest): it must still be the digest of exactly the bytes moved, and an upload's too.
std::string SeveralChunks() {
  std::string content(3 * 1024 * 1024 + 7, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>((i * 131) >> 9);
  return content;
}

TEST_F(ClientV2Test, AFileOfSeveralChunksGoesBothWaysWithItsDigest) {
  Start();
  LogIn();
  const std::string content = SeveralChunks();
  Result<ReplyV2> r = BackupOne("big", content);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 212) << "the server found the upload's digest wrong";
  r = client_->RestoreToFile("big", dir_ + "/out", Existing::kReplace);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 210);
  EXPECT_TRUE(r->digest_ok);
  EXPECT_EQ(r->bytes, content.size());
  EXPECT_EQ(ReadFile(dir_ + "/out"), content);
}

TEST_F(ClientV2Test, ARestoreOfSeveralChunksWithAWrongDigestLeavesNoFile) {
  ExpectACorruptRestoreLeavesNoFile(SeveralChunks());
}

TEST_F(ClientV2Test, PipelinesAHundredUploadsOverOneConnection) {
  FakeV2Options options;
  options.hold_answers = true;
  Start(options);
  LogIn();
  std::vector<Upload> uploads;
  for (int i = 0; i < 100; ++i) {
    const std::string path = dir_ + "/f" + std::to_string(i);
    WriteFile(path, "file " + std::to_string(i));
    uploads.push_back({path, "f/" + std::to_string(1000 + i)});
  }
  std::vector<size_t> order;
  client_->Backup(uploads, [&](size_t i, const Result<ReplyV2>& r) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 212);
    EXPECT_EQ(r->name, uploads[i].name);
    order.push_back(i);
  });
  ASSERT_EQ(order.size(), 100u);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  Stop();
  EXPECT_EQ(server_->files().size(), 100u);
  EXPECT_EQ(server_->files().at("f/1042"), "file 42");
  // Requests up to the window were all sent before the first answer came back.
  EXPECT_GE(server_->most_held(), 32u);
}

TEST_F(ClientV2Test, UnreadableFileIsReportedInOrderAndTheRestGoOn) {
  Start();
  LogIn();
  WriteFile(dir_ + "/ok", "fine");
  std::vector<std::string> outcomes;
  client_->Backup({{dir_ + "/ok", "one"}, {dir_ + "/missing", "two"}, {dir_ + "/ok", "three"}},
                  [&](size_t i, const Result<ReplyV2>& r) {
                    outcomes.push_back(std::to_string(i) + ":" +
                                       (r.ok() ? std::to_string(r->status) : "local"));
                  });
  EXPECT_EQ(outcomes, (std::vector<std::string>{"0:212", "1:local", "2:212"}));
  EXPECT_TRUE(client_->connected());
}

}  // namespace
}  // namespace backupd::client
