// tests (unprivileged or root): ServeConnection over a socketpair on a real temp storage folder —
// the version sniffer, the v2 login gate with a test authenticator, every v2 op, digests and their
// sidecars, pipelining, and mixing versions on one connection.
#include "worker/session.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "protocol/digest.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#include "tests/harness/temp_dir.h"
#include "worker/request_handler_v2.h"

namespace backupd::worker {
namespace {

namespace fs = std::filesystem;
namespace v2 = protocol::v2;
using protocol::Digest;
using v2::Op;
using v2::ResponseCode;

constexpr uint32_t kUser = 101;
constexpr std::string_view kClientFirst = "n,,n=101,r=abc";
constexpr std::string_view kServerFirst = "r=abcdef,s=c2FsdA==,i=4096";
constexpr std::string_view kClientFinal = "c=biws,r=abcdef,p=good";
constexpr std::string_view kServerFinal = "v=c2lnbmF0dXJl";

uint16_t Code(ResponseCode c) { return static_cast<uint16_t>(c); }

// Accepts exactly the exchange above for any user and hands over <root>/<user>: the session's
// rules are under test, not SCRAM.
class FakeAuthenticator final : public Authenticator {
 public:
  explicit FakeAuthenticator(std::string root) : root_(std::move(root)) {}
  Result<AuthStep> Start(uint32_t user_id, std::string_view client_first) override {
    ++starts;
    AuthStep step;
    if (client_first != "n,,n=" + std::to_string(user_id) + ",r=abc") {
      step.message = "malformed client-first-message";
      return step;
    }
    user_ = user_id;
    step.status = ResponseCode::kAuthContinue;
    step.message = std::string(kServerFirst);
    return step;
  }
  Result<AuthStep> Finish(std::string_view client_final) override {
    ++finishes;
    AuthStep step;
    if (client_final != kClientFinal) {
      step.message = "wrong proof";
      return step;
    }
    const std::string dir = root_ + "/" + std::to_string(user_);
    ::mkdir(dir.c_str(), 0700);
    step.user_dir = UniqueFd(::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    step.status = ResponseCode::kAuthOk;
    step.message = std::string(kServerFinal);
    return step;
  }
  int starts = 0;
  int finishes = 0;

 private:
  std::string root_;
  uint32_t user_ = 0;
};

struct V2Response {
  uint16_t status = 0;
  std::string name;
  std::string payload;
  Digest digest{};
};

std::string DigestBytes(std::string_view data) {
  return v2::EncodeDigestTrailer(protocol::Sha256Of(data));
}

std::string BackupRequest(uint32_t user, std::string_view name, std::string_view data) {
  return v2::EncodeRequestPrefix(user, Op::kBackup, name, data.size()) + std::string(data) +
         DigestBytes(data);
}

std::string Request(uint32_t user, Op op, std::string_view name = {}) {
  return v2::EncodeRequestPrefix(user, op, name, 0);
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = temp_.path();
    storage_fd_ = UniqueFd(::open(root_.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(storage_fd_.valid());
    auth_ = std::make_unique<FakeAuthenticator>(root_);
    ctx_.handler.sys = &RealSys();
    ctx_.handler.storage_fd = storage_fd_.get();
    ctx_.handler.max_file_size = 1 << 20;
    ctx_.handler.rng = &rng_;
    ctx_.auth = auth_.get();
    ctx_.idle_timeout = std::chrono::seconds(5);
    ctx_.request_timeout = std::chrono::seconds(20);
    ctx_.report = [this](const ipc::Report& r) { reports_.push_back(r); };
    ctx_.stopping = [] { return false; };
  }
  void TearDown() override { Finish(); }

  // Starts serving a fresh connection in a thread; the test is its client.
  void Open() {
    Finish();
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = UniqueFd(fds[0]);
    timeval tv{10, 0};  // a server that never answers fails the test instead of hanging it
    ASSERT_EQ(::setsockopt(client_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
    // The thread owns the connection and closes it when the session ends, as the worker does.
    server_ = std::thread([this, fd = fds[1]] {
      Connection conn(UniqueFd(fd), "test-peer");
      ServeConnection(conn, ctx_);
    });
  }
  // Waits for the session to end (the client's side closes first, as a client that is done).
  void Finish() {
    if (!server_.joinable()) return;
    client_.reset();
    server_.join();
  }
  void Send(std::string_view bytes) {
    ASSERT_EQ(::send(client_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  bool ReadExact(void* buf, size_t n) {
    return n == 0 || ::recv(client_.get(), buf, n, MSG_WAITALL) == static_cast<ssize_t>(n);
  }
  std::string ReadString(size_t n) {
    std::string s(n, '\0');
    EXPECT_TRUE(ReadExact(s.data(), n));
    return s;
  }
  V2Response Read() {
    V2Response r;
    std::array<uint8_t, v2::kResponseHeaderSize> h{};
    if (!ReadExact(h.data(), h.size())) {
      ADD_FAILURE() << "no response";
      return r;
    }
    const v2::ResponseHeader header = v2::DecodeResponseHeader(h);
    EXPECT_TRUE(v2::CheckResponseHeader(header).ok()) << header.status;
    r.status = header.status;
    r.name = ReadString(header.name_len);
    r.payload = ReadString(static_cast<size_t>(header.size));
    if (v2::HasResponseDigest(header.status)) {
      EXPECT_TRUE(ReadExact(r.digest.data(), 32));
    }
    return r;
  }
  // True once the server closed its side: no more bytes, EOF.
  bool ServerClosed() {
    char c;
    return ::recv(client_.get(), &c, 1, 0) == 0;
  }
  void LogIn(uint32_t user = kUser) {
    Send(v2::EncodeAuthRequest(user, Op::kAuthStart, "n,,n=" + std::to_string(user) + ",r=abc"));
    V2Response r = Read();
    ASSERT_EQ(r.status, Code(ResponseCode::kAuthContinue));
    ASSERT_EQ(r.payload, kServerFirst);
    Send(v2::EncodeAuthRequest(user, Op::kAuthFinish, kClientFinal));
    r = Read();
    ASSERT_EQ(r.status, Code(ResponseCode::kAuthOk));
    ASSERT_EQ(r.payload, kServerFinal);
  }
  fs::path UserPath(uint32_t user = kUser) const { return fs::path(root_) / std::to_string(user); }
  std::string FileText(const fs::path& p) const {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  bool HasTemp() const {
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      if (e.path().filename().string().rfind(".backupd-tmp-", 0) == 0) return true;
    }
    return false;
  }

  testing::TempDir temp_;
  std::string root_;
  UniqueFd storage_fd_;
  std::unique_ptr<FakeAuthenticator> auth_;
  std::mt19937_64 rng_{7};
  SessionContext ctx_;
  UniqueFd client_;
  std::thread server_;
  std::vector<ipc::Report> reports_;  // read only after Finish()
};

TEST_F(SessionTest, LoginThenEveryOp) {
  Open();
  LogIn();
  Send(BackupRequest(kUser, "/d/a.txt", "hello"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kOk));
  EXPECT_EQ(r.name, "d/a.txt");
  EXPECT_EQ(r.payload, "");
  EXPECT_EQ(FileText(UserPath() / "d" / "a.txt"), "hello");

  Send(Request(kUser, Op::kList));
  r = Read();
  ASSERT_EQ(r.status, Code(ResponseCode::kListOk));
  EXPECT_EQ(r.name, "");
  Result<std::vector<v2::ListEntry>> entries = v2::DecodeListEntries(r.payload);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].name, "d/a.txt");
  EXPECT_EQ((*entries)[0].size, 5u);
  EXPECT_EQ((*entries)[0].sha256, protocol::Sha256Of("hello"));
  struct stat st {};
  ASSERT_EQ(::stat((UserPath() / "d" / "a.txt").c_str(), &st), 0);
  EXPECT_EQ((*entries)[0].mtime_ns, st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);

  Send(Request(kUser, Op::kRestore, "d/a.txt"));
  r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kRestoreOk));
  EXPECT_EQ(r.name, "d/a.txt");
  EXPECT_EQ(r.payload, "hello");
  EXPECT_EQ(r.digest, protocol::Sha256Of("hello"));

  Send(Request(kUser, Op::kRestore, "b.txt"));
  r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kNotFound));
  EXPECT_EQ(r.name, "b.txt");
  EXPECT_EQ(r.payload, "no file named b.txt");

  Send(Request(kUser, Op::kDelete, "d/a.txt"));
  r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kOk));
  // The sidecar went with the file, and so did the folder the delete left empty.
  EXPECT_TRUE(fs::is_empty(UserPath()));

  Send(Request(kUser, Op::kList));
  r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kNoFiles));
  EXPECT_FALSE(r.payload.empty());

  Finish();
  ASSERT_EQ(reports_.size(), 8u);
  EXPECT_EQ(reports_[0].op, static_cast<uint8_t>(Op::kAuthStart));
  EXPECT_EQ(reports_[0].status, Code(ResponseCode::kAuthContinue));
  EXPECT_EQ(reports_[0].user_id, kUser);
  EXPECT_EQ(reports_[1].op, static_cast<uint8_t>(Op::kAuthFinish));
  EXPECT_EQ(reports_[1].status, Code(ResponseCode::kAuthOk));
  EXPECT_EQ(reports_[2].op, static_cast<uint8_t>(Op::kBackup));
  EXPECT_STREQ(reports_[2].text, "d/a.txt");
  EXPECT_EQ(reports_[2].bytes_in, BackupRequest(kUser, "/d/a.txt", "hello").size());
  EXPECT_EQ(reports_[5].status, Code(ResponseCode::kNotFound));
}

// A client that starts a login and never finishes it holds the worker header_timeout, no longer.
TEST_F(SessionTest, ALoginNotFinishedWithinHeaderTimeoutIsCutOffAndReportedOnce) {
  ctx_.header_timeout = std::chrono::seconds(1);
  std::vector<std::string> stalls;
  ctx_.stalled = [&](const std::string& peer, const std::string& what) {
    stalls.push_back(peer + ": " + what);
  };
  const auto start = std::chrono::steady_clock::now();
  Open();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthStart, "n,,n=" + std::to_string(kUser) + ",r=abc"));
  ASSERT_EQ(Read().status, Code(ResponseCode::kAuthContinue));
  EXPECT_TRUE(ServerClosed());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  Finish();
  EXPECT_EQ(stalls,
            std::vector<std::string>{"test-peer: did not finish logging in (header_timeout)"});
  EXPECT_EQ(auth_->finishes, 0);
}

// Logged in, the wait for the next request is idle_timeout's; its header and name then have
// header_timeout from their first byte.
TEST_F(SessionTest, AfterLoginARequestHeaderHasHeaderTimeoutFromItsFirstByte) {
  ctx_.header_timeout = std::chrono::seconds(1);
  std::vector<std::string> stalls;
  ctx_.stalled = [&](const std::string& peer, const std::string& what) {
    stalls.push_back(peer + ": " + what);
  };
  Open();
  LogIn();
  ::poll(nullptr, 0, 1500);  // an idle client, longer than header_timeout, within idle_timeout
  Send(Request(kUser, Op::kList));
  EXPECT_EQ(Read().status, Code(ResponseCode::kNoFiles));
  const std::string next = Request(kUser, Op::kRestore, "some/file");
  const auto start = std::chrono::steady_clock::now();
  Send(next.substr(0, 20));
  EXPECT_TRUE(ServerClosed());
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::milliseconds(3000));
  Finish();
  ASSERT_EQ(stalls.size(), 1u);
  EXPECT_EQ(
      stalls[0].rfind("test-peer: request header and name (header_timeout) after 20 bytes", 0), 0u)
      << stalls[0];
}

TEST_F(SessionTest, RequestBeforeLoginIs1013AndCloses) {
  Open();
  Send(BackupRequest(kUser, "a.txt", "hello"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kAuthRequired));
  EXPECT_EQ(r.name, "");
  EXPECT_EQ(r.payload, "log in first (AUTH_START)");
  EXPECT_TRUE(ServerClosed());
  EXPECT_FALSE(fs::exists(UserPath()));
  Finish();
  ASSERT_EQ(reports_.size(), 1u);
  EXPECT_EQ(reports_[0].status, Code(ResponseCode::kAuthRequired));
}

TEST_F(SessionTest, RequestForAnotherUserIs1013AndCloses) {
  fs::create_directories(UserPath(102));
  std::ofstream(UserPath(102) / "secret") << "theirs";
  Open();
  LogIn();
  Send(Request(102, Op::kRestore, "secret"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kAuthRequired));
  EXPECT_EQ(r.name, "");
  EXPECT_EQ(r.payload.find("theirs"), std::string::npos);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, WrongProofIs1014AndCloses) {
  Open();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthStart, kClientFirst));
  EXPECT_EQ(Read().status, Code(ResponseCode::kAuthContinue));
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthFinish, "c=biws,r=abcdef,p=bad"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kAuthFailed));
  EXPECT_EQ(r.payload, "wrong proof");
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, OutOfOrderAuthIs1014WithoutAskingTheAuthenticator) {
  Open();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthFinish, kClientFinal));
  EXPECT_EQ(Read().status, Code(ResponseCode::kAuthFailed));
  EXPECT_TRUE(ServerClosed());

  Open();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthStart, kClientFirst));
  EXPECT_EQ(Read().status, Code(ResponseCode::kAuthContinue));
  Send(v2::EncodeAuthRequest(102, Op::kAuthFinish, kClientFinal));
  EXPECT_EQ(Read().status, Code(ResponseCode::kAuthFailed));
  EXPECT_TRUE(ServerClosed());

  Open();
  LogIn();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthStart, kClientFirst));
  EXPECT_EQ(Read().status, Code(ResponseCode::kAuthFailed));
  EXPECT_TRUE(ServerClosed());
  Finish();
  EXPECT_EQ(auth_->starts, 2);
  EXPECT_EQ(auth_->finishes, 1);
}

TEST_F(SessionTest, RefusingAuthenticatorSays1014WithItsReason) {
  RefusingAuthenticator refusing;
  ctx_.auth = &refusing;
  Open();
  Send(v2::EncodeAuthRequest(kUser, Op::kAuthStart, kClientFirst));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kAuthFailed));
  EXPECT_EQ(r.payload, "logins are not enabled on this server yet");
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, DigestMismatchKeepsTheOldVersionAndTheConnection) {
  Open();
  LogIn();
  Send(BackupRequest(kUser, "a.txt", "old version"));
  ASSERT_EQ(Read().status, Code(ResponseCode::kOk));
  Send(v2::EncodeRequestPrefix(kUser, Op::kBackup, "a.txt", 11) + "new version" +
       DigestBytes("something else"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kDigestMismatch));
  EXPECT_EQ(r.name, "a.txt");
  EXPECT_FALSE(r.payload.empty());
  EXPECT_EQ(FileText(UserPath() / "a.txt"), "old version");
  EXPECT_FALSE(HasTemp());

  Send(Request(kUser, Op::kRestore, "a.txt"));
  r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kRestoreOk));
  EXPECT_EQ(r.payload, "old version");
  EXPECT_EQ(r.digest, protocol::Sha256Of("old version"));
}

TEST_F(SessionTest, EmptyFileCarriesTheDigestOfNothing) {
  Open();
  LogIn();
  Send(BackupRequest(kUser, "empty", ""));
  ASSERT_EQ(Read().status, Code(ResponseCode::kOk));
  Send(Request(kUser, Op::kRestore, "empty"));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kRestoreOk));
  EXPECT_EQ(r.payload, "");
  EXPECT_EQ(r.digest, protocol::Sha256Of(""));
}

TEST_F(SessionTest, HundredPipelinedRequestsAreAnsweredInOrder) {
  Open();
  LogIn();
  std::string all;
  for (int i = 0; i < 50; ++i) {
    const std::string name = "f" + std::to_string(i);
    all += BackupRequest(kUser, name, "content " + std::to_string(i));
    all += Request(kUser, Op::kRestore, name);
  }
  Send(all);
  for (int i = 0; i < 50; ++i) {
    const std::string name = "f" + std::to_string(i);
    V2Response r = Read();
    ASSERT_EQ(r.status, Code(ResponseCode::kOk)) << i;
    EXPECT_EQ(r.name, name);
    r = Read();
    ASSERT_EQ(r.status, Code(ResponseCode::kRestoreOk)) << i;
    EXPECT_EQ(r.name, name);
    EXPECT_EQ(r.payload, "content " + std::to_string(i));
  }
}

TEST_F(SessionTest, UploadOntoAFolderIs1010WithoutAServerPath) {
  fs::create_directories(UserPath() / "dir");
  Open();
  LogIn();
  // A folder is in the way; the message names it relative to the user's folder.
  Send(BackupRequest(kUser, "dir", "data") + Request(kUser, Op::kList));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kBadName));
  EXPECT_EQ(r.payload.find(root_), std::string::npos) << "a server path leaked: " << r.payload;
  // 1010 closes, as PROTOCOL.md has it for every 1010.
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, StaleSidecarIsIgnoredAndTheDigestComputed) {
  Open();
  LogIn();
  Send(BackupRequest(kUser, "a.txt", "via v2"));
  ASSERT_EQ(Read().status, Code(ResponseCode::kOk));
  Finish();
  // Overwritten by a v1 client: no digest uploaded, so none may be shown.
  Open();
  Send(protocol::EncodeRequestPrefix(kUser, protocol::Op::kBackup, "a.txt", 8) + "via v1!!");
  std::string v1_ok = protocol::EncodeResponsePrefix(212, "a.txt", 0);
  EXPECT_EQ(ReadString(v1_ok.size()), v1_ok);
  Finish();
  // And a sidecar planted for another version of the file is stale too.
  Open();
  LogIn();
  Send(Request(kUser, Op::kList));
  V2Response r = Read();
  ASSERT_EQ(r.status, Code(ResponseCode::kListOk));
  Result<std::vector<v2::ListEntry>> entries = v2::DecodeListEntries(r.payload);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].sha256, Digest{});
  Send(Request(kUser, Op::kRestore, "a.txt"));
  r = Read();
  EXPECT_EQ(r.payload, "via v1!!");
  EXPECT_EQ(r.digest, protocol::Sha256Of("via v1!!"));
}

TEST_F(SessionTest, V1OnAV2ConnectionIs1017AndCloses) {
  Open();
  LogIn();
  Send(protocol::EncodeRequestPrefix(kUser, protocol::Op::kList, "", 0));
  V2Response r = Read();
  EXPECT_EQ(r.status, Code(ResponseCode::kUnsupported));
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, V2OnAV1ConnectionIs1003AndCloses) {
  Open();
  Send(protocol::EncodeRequestPrefix(42, protocol::Op::kList, "", 0));
  std::string no_files = protocol::EncodeResponsePrefix(1002, "", 0);
  EXPECT_EQ(ReadString(no_files.size()), no_files);
  Send(Request(42, Op::kList));
  std::string error = protocol::EncodeResponsePrefix(1003, "", 0);
  EXPECT_EQ(ReadString(error.size()), error);
  EXPECT_TRUE(ServerClosed());
}

TEST_F(SessionTest, ForeignFirstBytesGetTheirRefusalAndTheClose) {
  const struct {
    std::string bytes;
    v2::Sniffed what;
  } cases[] = {
      {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(500, 'x'),
       v2::Sniffed::kTls},
      {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", v2::Sniffed::kHttp},
      {std::string("\x07\x00\x00\x00\x09\xca\x00\x00", 8), v2::Sniffed::kOther},
  };
  for (const auto& c : cases) {
    Open();
    Send(c.bytes);
    const std::string want = v2::Refusal(c.what);
    EXPECT_EQ(ReadString(want.size()), want);
    EXPECT_TRUE(ServerClosed());
  }
}

// A whole 4 GiB transfer takes over 20 s on a loaded CI machine (measured: ~160 MB/s through a
// socketpair with both sides hashing), too slow for this suite: the 64-bit sizes are checked here
// on a sparse file, the whole round trip by the clients' integration test.
TEST_F(SessionTest, FilesOverFourGiBAreListedAndRestoredWithSixtyFourBitSizes) {
  const uint64_t size = (uint64_t{4} << 30) + 3;
  fs::create_directories(UserPath());
  {
    UniqueFd f(::open((UserPath() / "big").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    ASSERT_TRUE(f.valid());
    ASSERT_EQ(::pwrite(f.get(), "end", 3, static_cast<off_t>(size - 3)), 3);
  }
  Open();
  LogIn();
  Send(Request(kUser, Op::kList));
  V2Response list = Read();
  Result<std::vector<v2::ListEntry>> entries = v2::DecodeListEntries(list.payload);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ((*entries)[0].size, size);

  Send(Request(kUser, Op::kRestore, "big"));
  std::array<uint8_t, v2::kResponseHeaderSize> h{};
  ASSERT_TRUE(ReadExact(h.data(), h.size()));
  const v2::ResponseHeader header = v2::DecodeResponseHeader(h);
  ASSERT_EQ(header.status, Code(ResponseCode::kRestoreOk));
  EXPECT_EQ(header.size, size);
  EXPECT_EQ(ReadString(header.name_len), "big");
  EXPECT_EQ(ReadString(1 << 20), std::string(1 << 20, '\0'));
  // A client leaving mid-file ends the session instead of leaving it blocked on the rest.
  Finish();
  ASSERT_FALSE(reports_.empty());
  EXPECT_EQ(reports_.back().status, Code(ResponseCode::kRestoreOk));
  EXPECT_NE(reports_.back().detail[0], '\0');
}

TEST_F(SessionTest, UploadOverFourGiBIsAcceptedUpToItsSize) {
  // The 64-bit size passes every check; the client then goes away, and nothing is left.
  ctx_.handler.max_file_size = uint64_t{8} << 30;
  Open();
  LogIn();
  Send(v2::EncodeRequestPrefix(kUser, Op::kBackup, "big", (uint64_t{4} << 30) + 1) + "start");
  Finish();
  ASSERT_FALSE(reports_.empty());
  EXPECT_EQ(reports_.back().status, 0);
  EXPECT_FALSE(HasTemp());
  EXPECT_FALSE(fs::exists(UserPath() / "big"));
}

TEST(StorageStatusV2, MapsEachStorageFailure) {
  EXPECT_EQ(StorageStatusV2(Status::NotFound("x")), ResponseCode::kNotFound);
  EXPECT_EQ(StorageStatusV2(Status::NoSpace("x")), ResponseCode::kNoSpace);
  EXPECT_EQ(StorageStatusV2(Status::TooLarge("x")), ResponseCode::kTooLarge);
  EXPECT_EQ(StorageStatusV2(Status::Invalid("x")), ResponseCode::kBadName);
  EXPECT_EQ(StorageStatusV2(Status::IoError("x")), ResponseCode::kError);
  EXPECT_EQ(StorageStatusV2(Status::Denied("x")), ResponseCode::kError);
}

// Hands out <root>/<user> for v1 requests, made only for a backup, and counts the asking.
class FakeFolders final : public FolderSource {
 public:
  explicit FakeFolders(std::string root) : root_(std::move(root)) {}
  Result<UniqueFd> V1Folder(uint32_t user_id, bool create) override {
    ++calls;
    const std::string dir = root_ + "/" + std::to_string(user_id);
    if (create) ::mkdir(dir.c_str(), 0700);
    UniqueFd fd(::open(dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Status::NotFound("no folder for user " + std::to_string(user_id));
    return fd;
  }
  int calls = 0;

 private:
  std::string root_;
};

class FolderSessionTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    ctx_.enter_folder = [this](Connection&, int folder_fd) {
      ++entered_;
      struct stat st {};
      if (::fstat(folder_fd, &st) == 0) entered_ino_ = st.st_ino;
      return enter_result_;
    };
  }
  ino_t Inode(const fs::path& p) const {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
  }
  // A v1 response's status; its name and payload are read and dropped.
  uint16_t ReadV1Status() {
    std::array<uint8_t, protocol::kResponseHeaderSize> h{};
    if (!ReadExact(h.data(), h.size())) return 0;
    const protocol::ResponseHeader header = protocol::DecodeResponseHeader(h);
    ReadString(header.name_len);
    if (header.status == 210 || header.status == 211) {
      std::array<uint8_t, 4> size{};
      EXPECT_TRUE(ReadExact(size.data(), size.size()));
      ReadString(protocol::GetU32(size.data()));
    }
    return header.status;
  }

  FakeFolders folders_{temp_.path()};
  int entered_ = 0;
  ino_t entered_ino_ = 0;
  bool enter_result_ = true;
};

TEST_F(FolderSessionTest, AV2LoginEntersItsFolderOnceAfterThe221) {
  Open();
  LogIn();
  Send(BackupRequest(kUser, "a.txt", "hello"));
  EXPECT_EQ(Read().status, Code(ResponseCode::kOk));
  Finish();
  EXPECT_EQ(entered_, 1);
  EXPECT_EQ(entered_ino_, Inode(UserPath()));
}

TEST_F(FolderSessionTest, AV1ConnectionEntersTheFirstFolderHandedOutAndKeepsToItsUser) {
  ctx_.handler.folders = &folders_;
  Open();
  // No folder yet and none made for a list: answered without one, nothing entered.
  Send(protocol::EncodeRequestPrefix(5, protocol::Op::kList, "", 0));
  EXPECT_EQ(ReadV1Status(), 1002);
  EXPECT_EQ(entered_, 0);
  Send(protocol::EncodeRequestPrefix(5, protocol::Op::kBackup, "a.txt", 2) + "hi");
  EXPECT_EQ(ReadV1Status(), 212);
  EXPECT_EQ(entered_, 1);
  // Bound to user 5 from here on: another user's request is refused, 5's served.
  Send(protocol::EncodeRequestPrefix(6, protocol::Op::kList, "", 0));
  EXPECT_EQ(ReadV1Status(), 1003);
  Send(protocol::EncodeRequestPrefix(5, protocol::Op::kRestore, "a.txt", 0));
  EXPECT_EQ(ReadV1Status(), 210);
  Finish();
  EXPECT_EQ(folders_.calls, 2);
  EXPECT_EQ(entered_, 1);
  EXPECT_EQ(entered_ino_, Inode(UserPath(5)));
  EXPECT_FALSE(fs::exists(UserPath(6)));
}

TEST_F(FolderSessionTest, AProcessThatHandedTheConnectionOnLeavesItAlone) {
  enter_result_ = false;
  ctx_.handler.folders = &folders_;
  Open();
  Send(protocol::EncodeRequestPrefix(5, protocol::Op::kBackup, "a.txt", 2) + "hi");
  // The request is the child's: this process neither answers nor stores it, and closes (with the
  // request unread, so a reset may come instead of the end of the stream).
  char c;
  EXPECT_LE(::recv(client_.get(), &c, 1, 0), 0);
  Finish();
  EXPECT_EQ(entered_, 1);
  EXPECT_FALSE(fs::exists(UserPath(5) / "a.txt"));
}

}  // namespace
}  // namespace backupd::worker
