// test process (root): both clients against the real daemon — the seed scenario with the Python
// client, and backup-client's commands, checked on the wire's far side (the storage folder).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

namespace fs = std::filesystem;

constexpr Millis kClientTimeout{20000};

std::string Output(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The two command-line clients share one interface: --protocol, --server, --user, then a command.
enum class ClientKind { kCpp, kPython };

std::string KindName(const ::testing::TestParamInfo<ClientKind>& info) {
  return info.param == ClientKind::kCpp ? "BackupClient" : "PythonClient";
}

// Exit statuses both clients document.
constexpr int kExitErrorStatus = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnection = 3;
constexpr int kExitOutputExists = 4;

// How each client names itself in its messages, and the command that lists stored names.
std::string Prog(ClientKind kind) {
  return kind == ClientKind::kCpp ? "backup-client" : "backup_client.py";
}

class ClientsTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    work_ = daemon_.dir() + "/work";
    ASSERT_TRUE(fs::create_directories(work_ + "/docs"));
  }

  ProgramResult Client(ClientKind kind, uint32_t user, const std::vector<std::string>& command,
                       uint16_t port = 0) {
    return ClientAt(kind, "127.0.0.1:" + std::to_string(port != 0 ? port : daemon_.port()), user,
                    command);
  }

  ProgramResult ClientAt(ClientKind kind, const std::string& server, uint32_t user,
                         const std::vector<std::string>& command) {
    std::vector<std::string> argv;
    if (kind == ClientKind::kCpp) {
      argv = {BackupClientPath()};
    } else {
      argv = {Python3Path(), PythonClientPath()};
    }
    // These tests speak v1 to a daemon that allows it on loopback; v2 is clients_v2_test.cc's.
    const std::vector<std::string> common = {"--protocol", "1",      "--server",
                                             server,       "--user", std::to_string(user)};
    argv.insert(argv.end(), common.begin(), common.end());
    argv.insert(argv.end(), command.begin(), command.end());
    return RunProgram(argv, work_, kClientTimeout);
  }

  std::string work_;
};

class EachClientTest : public ClientsTest, public ::testing::WithParamInterface<ClientKind> {};

INSTANTIATE_TEST_SUITE_P(Clients, EachClientTest,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

TEST_F(ClientsTest, PythonClientRunsTheSeedScenario) {
  const std::string first = work_ + "/docs/first.txt";
  const std::string second = work_ + "/docs/second.bin";
  const std::string second_data = RandomBytes(300000, 20);
  ASSERT_TRUE(WriteFile(first, "the first file of the seed scenario\n"));
  ASSERT_TRUE(WriteFile(second, second_data));
  ASSERT_TRUE(
      WriteFile(work_ + "/server.info", "127.0.0.1 " + std::to_string(daemon_.port()) + "\n"));
  ASSERT_TRUE(WriteFile(work_ + "/backup.info", first + "\n" + second + "\n"));

  ProgramResult r = RunProgram({Python3Path(), PythonClientPath()}, work_, kClientTimeout);
  ASSERT_EQ(r.exit_code, 0) << Output(r);

  // One random user's folder; in it only the second file (the first was restored, then deleted),
  // byte for byte, every folder 0700 and the file 0600, all owned by the worker user.
  std::vector<std::string> users = UserFolders();
  ASSERT_EQ(users.size(), 1u) << "storage holds more than one user folder";
  EXPECT_EQ(users[0].find_first_not_of("0123456789"), std::string::npos) << users[0];
  const std::string user_dir = daemon_.storage() + "/" + users[0];
  EXPECT_TRUE(OwnedByNobodyWithMode(user_dir, S_IFDIR, 0700));
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(user_dir)) {
    const std::string path = e.path().string();
    if (e.is_directory()) {
      EXPECT_TRUE(OwnedByNobodyWithMode(path, S_IFDIR, 0700));
    } else {
      EXPECT_TRUE(OwnedByNobodyWithMode(path, S_IFREG, 0600));
      files.push_back(path);
    }
  }
  ASSERT_EQ(files.size(), 1u) << "expected only the second file to remain";
  EXPECT_EQ(fs::path(files[0]).filename(), "second.bin");
  EXPECT_TRUE(ReadFile(files[0]) == second_data) << "stored second file differs";
}

TEST_P(EachClientTest, BackupListRestoreDelete) {
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  ASSERT_TRUE(WriteFile(work_ + "/docs/b.txt", "bravo\n"));
  const uint32_t user = 3001;
  const ClientKind kind = GetParam();

  ProgramResult r = Client(kind, user, {"list"});
  EXPECT_EQ(r.exit_code, 0) << "list with no files succeeds\n" << Output(r);
  EXPECT_EQ(r.out, "") << Output(r);

  r = Client(kind, user, {"backup", "docs/a.txt", "docs/b.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(user) + "/docs/a.txt"), "alpha\n");
  EXPECT_EQ(ReadFile(UserDir(user) + "/docs/b.txt"), "bravo\n");
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user) + "/docs", S_IFDIR, 0700));
  EXPECT_TRUE(OwnedByNobodyWithMode(UserDir(user) + "/docs/a.txt", S_IFREG, 0600));

  r = Client(kind, user, {"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "docs/a.txt\ndocs/b.txt\n") << Output(r);

  r = Client(kind, user, {"restore", "docs/a.txt", "-o", work_ + "/restored.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(work_ + "/restored.txt"), "alpha\n");

  r = Client(kind, user, {"delete", "docs/a.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_FALSE(PathExists(UserDir(user) + "/docs/a.txt"));
  EXPECT_EQ(ReadFile(UserDir(user) + "/docs/b.txt"), "bravo\n");

  r = Client(kind, user, {"restore", "docs/a.txt", "-o", work_ + "/again.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << "restoring a deleted file must fail\n" << Output(r);
  EXPECT_NE(r.err, "") << "no message for the failure";
  EXPECT_FALSE(PathExists(work_ + "/again.txt")) << "a failed restore created its output";
  r = Client(kind, user, {"delete", "docs/a.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);

  r = Client(kind, user, {"list"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "docs/b.txt\n") << Output(r);

  // Another user sees nothing of it.
  r = Client(kind, user + 1, {"restore", "docs/b.txt", "-o", work_ + "/other.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_FALSE(PathExists(work_ + "/other.txt"));
}

// The names at protocol/wire.h's limits (kMaxNameLen 4096 bytes, components of at most 255):
// the longest, the deepest (one-byte folders, 2048 levels) and the longest component. What the
// server accepts it must list, restore byte for byte and delete.
TEST_P(EachClientTest, NamesAtTheLimitsRoundTrip) {
  const ClientKind kind = GetParam();
  const uint32_t user = 3007;
  std::string longest;
  for (char c = 'a'; c < 'a' + 15; ++c) longest += std::string(255, c) + "/";
  longest += std::string(254, 'p') + "/q";
  std::string deepest;
  for (int i = 0; i < 2047; ++i) deepest += "d/";
  deepest += "ff";
  ASSERT_EQ(longest.size(), 4096u);
  ASSERT_EQ(deepest.size(), 4096u);
  ASSERT_TRUE(WriteFile(work_ + "/docs/limit.bin", "at the limit\n"));
  for (const std::string& name : {longest, deepest, std::string(255, 'x')}) {
    SCOPED_TRACE(name.size() == 255 ? "longest component"
                 : name == longest  ? "longest"
                                    : "deepest");
    ProgramResult r = Client(kind, user, {"backup", "--name", name, "docs/limit.bin"});
    ASSERT_EQ(r.exit_code, 0) << Output(r);
    r = Client(kind, user, {"list"});
    ASSERT_EQ(r.exit_code, 0) << Output(r);
    EXPECT_TRUE(r.out == name + "\n") << "list shows other names";
    r = Client(kind, user, {"restore", name, "-o", work_ + "/limit.out", "--force"});
    ASSERT_EQ(r.exit_code, 0) << Output(r);
    EXPECT_EQ(ReadFile(work_ + "/limit.out"), "at the limit\n");
    r = Client(kind, user, {"delete", name});
    ASSERT_EQ(r.exit_code, 0) << Output(r);
    r = Client(kind, user, {"list"});
    ASSERT_EQ(r.exit_code, 0) << Output(r);
    EXPECT_EQ(r.out, "") << Output(r);
    EXPECT_TRUE(fs::is_empty(UserDir(user))) << "delete left folders behind";
  }
}

TEST_P(EachClientTest, TenMiBRoundTripWithAbsolutePath) {
  const std::string data = RandomBytes(10u << 20, 21);
  const std::string path = work_ + "/docs/ten.bin";
  ASSERT_TRUE(WriteFile(path, data));
  const uint32_t user = 3003;
  const ClientKind kind = GetParam();

  ProgramResult r = Client(kind, user, {"backup", path});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  // The stored name is the path with its leading '/' stripped.
  const std::string name = path.substr(1);
  std::optional<std::string> stored = ReadFile(UserDir(user) + "/" + name);
  ASSERT_TRUE(stored.has_value()) << "not stored as " << name;
  EXPECT_TRUE(*stored == data) << "stored bytes differ";

  r = Client(kind, user, {"restore", name, "-o", work_ + "/ten.out"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  std::optional<std::string> restored = ReadFile(work_ + "/ten.out");
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->size(), data.size());
  EXPECT_TRUE(*restored == data) << "restored bytes differ";
}

TEST_P(EachClientTest, FailsWhenNoServerListens) {
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  // A port nobody listens on: the daemon's, after it stopped.
  const uint16_t port = daemon_.port();
  ASSERT_TRUE(daemon_.Stop(Millis(5000)).ok());
  ProgramResult r = Client(GetParam(), 1, {"backup", "docs/a.txt"}, port);
  EXPECT_EQ(r.exit_code, kExitConnection) << Output(r);
  EXPECT_NE(r.err.find("connect to 127.0.0.1:" + std::to_string(port) +
                       ": Connection refused; is backupd running there?\n"),
            std::string::npos)
      << Output(r);
}

TEST_P(EachClientTest, RestoreKeepsAnExistingFileUnlessForced) {
  ASSERT_TRUE(WriteFile(work_ + "/docs/a.txt", "alpha\n"));
  const uint32_t user = 3007;
  const ClientKind kind = GetParam();
  ProgramResult r = Client(kind, user, {"backup", "docs/a.txt"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  const std::string mine = work_ + "/mine.txt";
  ASSERT_TRUE(WriteFile(mine, "my own edits\n"));

  r = Client(kind, user, {"restore", "docs/a.txt", "-o", mine});
  EXPECT_EQ(r.exit_code, kExitOutputExists) << Output(r);
  EXPECT_EQ(r.err, Prog(kind) + ": restore docs/a.txt: '" + mine +
                       "' exists; not replaced (give --force to replace it, or -o another file)\n");
  EXPECT_EQ(ReadFile(mine), "my own edits\n");
  std::vector<std::string> entries = ListDir(work_);
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"docs", "mine.txt"})) << "a temp file left";

  // The default output (the name's last part in the current folder) is kept the same way.
  ASSERT_TRUE(WriteFile(work_ + "/a.txt", "another\n"));
  r = Client(kind, user, {"restore", "docs/a.txt"});
  EXPECT_EQ(r.exit_code, kExitOutputExists) << Output(r);
  EXPECT_EQ(ReadFile(work_ + "/a.txt"), "another\n");

  // '-o -' is standard output, whatever files the folder holds.
  ASSERT_TRUE(WriteFile(work_ + "/-", "dash\n"));
  r = Client(kind, user, {"restore", "docs/a.txt", "-o", "-"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "alpha\n");
  EXPECT_EQ(ReadFile(work_ + "/-"), "dash\n");

  r = Client(kind, user, {"restore", "docs/a.txt", "-o", mine, "--force"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(mine), "alpha\n");

  // The refusal comes before connecting: with no server it is still 4, not 3.
  const uint16_t port = daemon_.port();
  ASSERT_TRUE(daemon_.Stop(Millis(5000)).ok());
  r = Client(kind, user, {"restore", "docs/a.txt", "-o", mine}, port);
  EXPECT_EQ(r.exit_code, kExitOutputExists) << Output(r);
  EXPECT_EQ(ReadFile(mine), "alpha\n");
}

TEST_P(EachClientTest, RestoreNotFoundSaysWhatWasLookedUpAndHowNamesLook) {
  const ClientKind kind = GetParam();
  const std::string cwd = fs::canonical(work_).string();
  ProgramResult r = Client(kind, 3008, {"restore", "notes.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_EQ(r.err, Prog(kind) + ": restore notes.txt: not found (1001): user 3008 has no file " +
                       "'notes.txt'. Names are stored with the leading '/' removed: " + cwd +
                       "/notes.txt is stored as '" + cwd.substr(1) + "/notes.txt'. '" + Prog(kind) +
                       " list' shows them.\n");
  EXPECT_FALSE(PathExists(work_ + "/notes.txt"));

  r = Client(kind, 3008, {"delete", "/home/tester/notes.txt"});
  EXPECT_EQ(r.exit_code, kExitErrorStatus) << Output(r);
  EXPECT_EQ(r.err, Prog(kind) + ": delete /home/tester/notes.txt: not found (1001): user 3008 " +
                       "has no file '/home/tester/notes.txt'. Names are stored with the leading " +
                       "'/' removed: e.g. 'home/tester/notes.txt'. '" + Prog(kind) +
                       " list' shows them.\n");
}

TEST_P(EachClientTest, ServerValueThatIsNotHostPortSaysWhatIsExpected) {
  const ClientKind kind = GetParam();
  for (const std::string& server : std::vector<std::string>{
           "127.0.0.1 " + std::to_string(daemon_.port()), "http://127.0.0.1:1337"}) {
    ProgramResult r = ClientAt(kind, server, 1, {"list"});
    EXPECT_EQ(r.exit_code, kExitUsage) << Output(r);
    EXPECT_NE(
        r.err.find("server address '" + server + "': expected HOST:PORT, e.g. 127.0.0.1:1337\n"),
        std::string::npos)
        << Output(r);
  }
  ProgramResult r = ClientAt(kind, "[::1]:" + std::to_string(daemon_.port()), 1, {"list"});
  EXPECT_NE(r.exit_code, kExitUsage) << "[::1]:PORT must still parse\n" << Output(r);
}

// Listens on 127.0.0.1 port 0 and answers one connection, once the request has begun to arrive,
// with an HTTP error; then holds the connection open as an HTTP server waiting for a complete
// request would.
class FakeHttpServer {
 public:
  FakeHttpServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0 ||
        listen(fd_, 1) < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeHttpServer() {
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, 10000) != 1) return;
    int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) return;
    const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    char buf[4096];
    if (recv(conn, buf, sizeof(buf), 0) > 0 &&
        send(conn, answer.data(), answer.size(), MSG_NOSIGNAL) >= 0) {
      pfd = {conn, POLLIN, 0};
      while (poll(&pfd, 1, 10000) == 1 && recv(conn, buf, sizeof(buf), 0) > 0) {
      }
    }
    close(conn);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_P(EachClientTest, NamesAnHttpServerWithoutWaitingForTheTimeout) {
  FakeHttpServer http;
  ASSERT_NE(http.port(), 0);
  const auto start = std::chrono::steady_clock::now();
  ProgramResult r = Client(GetParam(), 1, {"list"}, http.port());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << Output(r);
  EXPECT_EQ(r.exit_code, kExitConnection) << Output(r);
  EXPECT_NE(r.err.find("127.0.0.1:" + std::to_string(http.port()) +
                       " is not a backupd server (it answers like an HTTP server)\n"),
            std::string::npos)
      << Output(r);
}

TEST_F(ClientsTest, PythonScenarioWithOneFileSaysWhyItNeedsTwo) {
  ASSERT_TRUE(WriteFile(work_ + "/docs/only.txt", "one\n"));
  ASSERT_TRUE(
      WriteFile(work_ + "/server.info", "127.0.0.1 " + std::to_string(daemon_.port()) + "\n"));
  ASSERT_TRUE(WriteFile(work_ + "/backup.info", work_ + "/docs/only.txt\n"));
  ProgramResult r = RunProgram({Python3Path(), PythonClientPath()}, work_, kClientTimeout);
  EXPECT_EQ(r.exit_code, kExitUsage) << Output(r);
  EXPECT_EQ(r.err,
            "backup_client.py: backup.info: lists only 1 file path, and the scenario needs two: it "
            "backs up both, checks that the list shows both, then restores, deletes and restores "
            "again the first while the second stays stored. Add another file's path on a line of "
            "its own\n");
  EXPECT_EQ(UserFolders(), std::vector<std::string>{}) << "it contacted the server";
}

TEST_F(ClientsTest, WhatOneClientStoresTheOtherRestores) {
  const std::string data = RandomBytes(1u << 20, 22);
  ASSERT_TRUE(WriteFile(work_ + "/docs/shared.bin", data));
  ProgramResult r = Client(ClientKind::kPython, 3005, {"backup", "docs/shared.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Client(ClientKind::kCpp, 3005, {"restore", "docs/shared.bin", "-o", work_ + "/by_cpp"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(work_ + "/by_cpp") == data);

  r = Client(ClientKind::kCpp, 3005, {"backup", "--name", "renamed.bin", "docs/shared.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  r = Client(ClientKind::kPython, 3005, {"restore", "renamed.bin", "-o", work_ + "/by_py"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_TRUE(ReadFile(work_ + "/by_py") == data);
}

}  // namespace
}  // namespace backupd::testing
