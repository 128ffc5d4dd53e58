// test process (any privilege): the login monitor over a real socketpair — the worker's stub on
// one end, the monitor serving the other in a thread, a real folder tree; no daemon.
#include "daemon/monitor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <regex>
#include <thread>

#include "protocol/scram.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#include "tests/harness/temp_dir.h"
#include "worker/monitor_authenticator.h"

namespace backupd::daemon {
namespace {

using protocol::ScramClient;
using std::chrono::milliseconds;
using V2 = protocol::v2::ResponseCode;

constexpr pid_t kWorker = 1000;
constexpr char kSecret42[] = "secret-of-user-42-0123456789abcdef";
constexpr char kSecret43[] = "secret-of-user-43-0123456789abcdef";
constexpr char kClientNonce[] = "fyko0d2lbbFgONRv9qkxdawL";

ipc::MonitorPeer Peer(const char* text, uint16_t port = 40000) {
  ipc::MonitorPeer p;
  p.port = port;
  in_addr a4{};
  if (::inet_pton(AF_INET, text, &a4) == 1) {
    p.address[10] = p.address[11] = 0xff;
    std::memcpy(p.address.data() + 12, &a4, 4);
  } else {
    EXPECT_EQ(::inet_pton(AF_INET6, text, p.address.data()), 1) << text;
  }
  return p;
}

// A monitor serving one channel in a thread, as the supervisor's loop would, and the worker's
// stub on the channel's other end.
struct Harness {
  ~Harness() { Stop(); }

  void Start(conf::LegacyV1 mode = conf::LegacyV1::kLoopback) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    worker_end_.reset(sv[1]);
    monitor_fd_ = sv[0];
    MonitorSettings s;
    s.storage.reset(::open(storage_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    s.folder_uid = ::getuid();
    s.folder_gid = ::getgid();
    s.legacy_v1 = mode;
    Users users;
    users[42] = *protocol::DeriveScramVerifier(kSecret42, "0123456789abcdef", 4096);
    users[43] = *protocol::DeriveScramVerifier(kSecret43, "fedcba9876543210", 4096);
    Result<Monitor> m = Monitor::Create(std::move(s), std::move(users));
    ASSERT_TRUE(m.ok()) << m.status().message();
    monitor_.emplace(std::move(*m));
    monitor_->Add(kWorker, UniqueFd(sv[0]));
    auth_.emplace(worker_end_.get(), milliseconds(2000));
    auth_->BeginConnection(Peer("192.0.2.1"));
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // The monitor's side, as the supervisor's loop runs it.
  void Loop() {
    while (!stop_) {
      pollfd p{monitor_fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      Status s = monitor_->Serve(kWorker, std::chrono::steady_clock::now());
      if (!s.ok()) {
        verdict_ = s;
        monitor_->Remove(kWorker);
        done_ = true;
        return;
      }
    }
  }

  // Why the monitor dropped the channel (OK if it still serves it after a while).
  Status Verdict() {
    for (int i = 0; i < 200 && !done_; ++i) std::this_thread::sleep_for(milliseconds(10));
    return done_ ? verdict_ : Status::Ok();
  }

  // A whole login with `secret` as `user` (AUTH_START's header naming `header_user`): the last
  // answer the monitor gave.
  Result<worker::AuthStep> Login(uint32_t header_user, const std::string& user,
                                 const std::string& secret, Status* server_check = nullptr) {
    ScramClient client(user, secret, kClientNonce);
    Result<std::string> first = client.ClientFirst();
    if (!first.ok()) return first.status();
    Result<worker::AuthStep> started = auth_->Start(header_user, *first);
    if (!started.ok() || started->status != V2::kAuthContinue) return started;
    Result<std::string> final_message = client.ClientFinal(started->message);
    if (!final_message.ok()) return final_message.status();
    Result<worker::AuthStep> finished = auth_->Finish(*final_message);
    if (server_check != nullptr && finished.ok()) {
      *server_check = client.VerifyServerFinal(finished->message);
    }
    return finished;
  }

  // Ends the connection on the channel and begins the next one, from `peer`.
  void NextConnection(const char* peer = "192.0.2.1") {
    ASSERT_TRUE(auth_->EndConnection().ok());
    auth_->BeginConnection(Peer(peer));
  }

  // Sends raw bytes as one request, as a broken or hostile worker might.
  void SendRaw(const void* bytes, size_t size, int pass_fd = -1) {
    ASSERT_TRUE(ipc::SendMonitorMessage(worker_end_.get(), bytes, size, pass_fd).ok());
  }

  testing::TempDir storage_;
  UniqueFd worker_end_;
  int monitor_fd_ = -1;
  std::optional<Monitor> monitor_;
  std::optional<worker::MonitorAuthenticator> auth_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  Status verdict_;
};

class MonitorTest : public ::testing::Test, public Harness {};

void ExpectSameFile(int fd, const std::string& path) {
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(fd, &a), 0);
  ASSERT_EQ(::lstat(path.c_str(), &b), 0) << path;
  EXPECT_EQ(a.st_dev, b.st_dev);
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_TRUE(S_ISDIR(b.st_mode));
  EXPECT_EQ(b.st_mode & 07777, 0700u);
}

TEST_F(MonitorTest, LoginHandsOutTheUsersFolderAndProvesTheServer) {
  Start();
  Status server_check = Status::Invalid("not checked");
  Result<worker::AuthStep> r = Login(42, "42", kSecret42, &server_check);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, V2::kAuthOk) << r->message;
  EXPECT_TRUE(server_check.ok()) << server_check.message();
  ASSERT_TRUE(r->user_dir.valid());
  ExpectSameFile(r->user_dir.get(), storage_.Sub("42"));
  EXPECT_EQ(::fcntl(r->user_dir.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_F(MonitorTest, WrongSecretIsRefusedWithoutAFolder) {
  Start();
  Result<worker::AuthStep> r = Login(42, "42", kSecret43);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, V2::kAuthFailed);
  EXPECT_EQ(r->message, "authentication failed for user 42");
  EXPECT_FALSE(r->user_dir.valid());
  EXPECT_FALSE(std::filesystem::exists(storage_.Sub("42")));
}

TEST_F(MonitorTest, AnUnknownUserGetsAServerFirstLikeAKnownOneThenFails) {
  Start();
  ScramClient known("42", kSecret42, kClientNonce);
  Result<worker::AuthStep> a = auth_->Start(42, *known.ClientFirst());
  ASSERT_TRUE(a.ok());
  NextConnection();
  ScramClient unknown("77", kSecret42, kClientNonce);
  Result<worker::AuthStep> b = auth_->Start(77, *unknown.ClientFirst());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->status, V2::kAuthContinue);
  EXPECT_EQ(b->status, V2::kAuthContinue);
  const std::regex shape("r=" + std::string(kClientNonce) +
                         "[A-Za-z0-9_-]{24},s=[A-Za-z0-9+/]{22}==,i=4096");
  EXPECT_TRUE(std::regex_match(a->message, shape)) << a->message;
  EXPECT_TRUE(std::regex_match(b->message, shape)) << b->message;
  EXPECT_EQ(a->message.size(), b->message.size());
  Result<std::string> final_message = unknown.ClientFinal(b->message);
  ASSERT_TRUE(final_message.ok());
  Result<worker::AuthStep> f = auth_->Finish(*final_message);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->status, V2::kAuthFailed);
  EXPECT_EQ(f->message, "authentication failed for user 77");
  EXPECT_FALSE(f->user_dir.valid());
  // The same made-up salt the next time: a second look does not tell it from a real one.
  NextConnection();
  ScramClient again("77", kSecret42, kClientNonce);
  Result<worker::AuthStep> c = auth_->Start(77, *again.ClientFirst());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(b->message.substr(b->message.find(",s=")), c->message.substr(c->message.find(",s=")));
}

TEST_F(MonitorTest, ClientFirstNamingAnotherUserIsRefused) {
  Start();
  Result<worker::AuthStep> r = Login(43, "42", kSecret42);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, V2::kAuthFailed);
  EXPECT_EQ(r->message, "authentication failed for user 43");
}

TEST_F(MonitorTest, MalformedClientFirstIsAFailedLoginNotABrokenChannel) {
  Start();
  Result<worker::AuthStep> r = auth_->Start(42, "n,,n=42");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, V2::kAuthFailed);
  EXPECT_TRUE(Verdict().ok());
}

TEST_F(MonitorTest, AfterALoginTheChannelAcceptsOnlyReset) {
  Start();
  Result<worker::AuthStep> r = Login(42, "42", kSecret42);
  ASSERT_TRUE(r.ok() && r->status == V2::kAuthOk);
  // A second login on the same connection: the worker is broken or hostile.
  ScramClient again("43", kSecret43, kClientNonce);
  EXPECT_FALSE(auth_->Start(43, *again.ClientFirst()).ok());
  EXPECT_EQ(Verdict().message(), "AuthStart out of order");
}

TEST_F(MonitorTest, ResetReadiesTheChannelForTheNextConnection) {
  Start();
  ASSERT_EQ(Login(42, "42", kSecret42)->status, V2::kAuthOk);
  NextConnection();
  Result<worker::AuthStep> r = Login(43, "43", kSecret43);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, V2::kAuthOk);
  ExpectSameFile(r->user_dir.get(), storage_.Sub("43"));
}

TEST_F(MonitorTest, FinishWithoutStartClosesTheChannel) {
  Start();
  EXPECT_FALSE(auth_->Finish("c=biws,r=x,p=y").ok());
  EXPECT_EQ(Verdict().message(), "AuthFinish out of order");
}

TEST_F(MonitorTest, V1AfterAStartedLoginClosesTheChannel) {
  Start();
  ScramClient c("42", kSecret42, kClientNonce);
  ASSERT_EQ(auth_->Start(42, *c.ClientFirst())->status, V2::kAuthContinue);
  EXPECT_FALSE(auth_->V1Folder(42, true).ok());
  EXPECT_EQ(Verdict().message(), "LegacyV1 out of order");
}

TEST_F(MonitorTest, MalformedRequestsCloseTheChannel) {
  struct Case {
    const char* name;
    std::function<void(Harness&)> send;
    const char* verdict;
  };
  const std::vector<Case> cases = {
      {"bad magic",
       [](Harness& t) {
         ipc::ResetRequest r;
         r.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kReset);
         r.header.magic = 0;
         t.SendRaw(&r, sizeof r);
       },
       "a request with a bad magic"},
      {"unknown type",
       [](Harness& t) {
         ipc::ResetRequest r;
         r.header.type = 9;
         t.SendRaw(&r, sizeof r);
       },
       "an unknown request type 9"},
      {"wrong size",
       [](Harness& t) {
         ipc::AuthStartRequest r;
         r.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kAuthStart);
         t.SendRaw(&r, sizeof r - 1);
       },
       "a malformed AuthStart"},
      {"length over the cap",
       [](Harness& t) {
         ipc::AuthStartRequest r;
         r.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kAuthStart);
         r.length = ipc::kMonitorMaxText + 1;
         t.SendRaw(&r, sizeof r);
       },
       "a malformed AuthStart"},
      {"too short for a header",
       [](Harness& t) {
         const char b[3] = {1, 2, 3};
         t.SendRaw(b, sizeof b);
       },
       "a truncated request"},
      {"a descriptor attached",
       [](Harness& t) {
         ipc::ResetRequest r;
         r.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kReset);
         t.SendRaw(&r, sizeof r, t.worker_end_.get());
       },
       "a descriptor sent to the monitor"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Harness t;
    t.Start();
    c.send(t);
    EXPECT_EQ(t.Verdict().message(), c.verdict);
    // The worker sees its channel closed, at once rather than at its deadline.
    char b;
    pollfd p{t.worker_end_.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1);
    EXPECT_EQ(::recv(t.worker_end_.get(), &b, 1, 0), 0);
  }
}

TEST_F(MonitorTest, AnOversizedDatagramClosesTheChannel) {
  Start();
  std::vector<char> big(ipc::kMonitorMaxRequest + 1, 0);
  SendRaw(big.data(), big.size());
  EXPECT_EQ(Verdict().message(), "oversized monitor message");
}

TEST_F(MonitorTest, FailuresFromOneAddressAreSlowedDownThereOnly) {
  Start();
  for (int i = 0; i < 5; ++i) {
    NextConnection();
    Result<worker::AuthStep> r = Login(42, "42", kSecret43);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, V2::kAuthFailed) << i;
  }
  // The sixth try from that address is refused before SCRAM, even with the right secret.
  NextConnection();
  Result<worker::AuthStep> sixth = Login(42, "42", kSecret42);
  ASSERT_TRUE(sixth.ok());
  EXPECT_EQ(sixth->status, V2::kBusy);
  EXPECT_EQ(sixth->message, "too many failed logins from 192.0.2.1, try again in 60 s");
  // The same user from another address, and another address at all, are unaffected.
  NextConnection("192.0.2.2");
  Result<worker::AuthStep> elsewhere = Login(42, "42", kSecret42);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->status, V2::kAuthOk);
  NextConnection("2001:db8::1");
  EXPECT_EQ(Login(43, "43", kSecret43)->status, V2::kAuthOk);
}

TEST_F(MonitorTest, ExchangesStartedBeforeTheCoolDownAreCutShortByIt) {
  Start();
  // Started first, finished after the address failed too often.
  ScramClient early("42", kSecret42, kClientNonce);
  Result<worker::AuthStep> first = auth_->Start(42, *early.ClientFirst());
  ASSERT_EQ(first->status, V2::kAuthContinue);
  // Five failures on a second channel (another worker) from the same address.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd other_worker(sv[1]);
  stop_ = true;
  thread_.join();
  monitor_->Add(kWorker + 1, UniqueFd(sv[0]));
  for (int i = 0; i < 5; ++i) {
    ScramClient c("42", kSecret43, kClientNonce);
    ASSERT_TRUE(ipc::SendMonitorMessage(
                    other_worker.get(),
                    [&] {
                      ipc::AuthStartRequest r;
                      r.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kAuthStart);
                      r.user_id = 42;
                      r.peer = Peer("192.0.2.1");
                      ipc::SetText(r.text, &r.length, "n,,n=42");  // malformed: a failure
                      return r;
                    }())
                    .ok());
    ASSERT_TRUE(monitor_->Serve(kWorker + 1, std::chrono::steady_clock::now()).ok());
    ipc::ResetRequest reset;
    reset.header.type = static_cast<uint8_t>(ipc::MonitorRequestType::kReset);
    ASSERT_TRUE(ipc::SendMonitorMessage(other_worker.get(), reset).ok());
  }
  ASSERT_TRUE(monitor_->Serve(kWorker + 1, std::chrono::steady_clock::now()).ok());
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  Result<worker::AuthStep> finished = auth_->Finish(*early.ClientFinal(first->message));
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->status, V2::kBusy);
  EXPECT_FALSE(finished->user_dir.valid());
}

TEST_F(MonitorTest, LegacyV1LoopbackAllowsOnlyLoopbackPeers) {
  Start(conf::LegacyV1::kLoopback);
  for (const char* peer : {"127.0.0.1", "127.3.4.5", "::1"}) {
    SCOPED_TRACE(peer);
    auth_->BeginConnection(Peer(peer));
    Result<UniqueFd> fd = auth_->V1Folder(42, true);
    ASSERT_TRUE(fd.ok()) << fd.status().message();
    ExpectSameFile(fd->get(), storage_.Sub("42"));
    ASSERT_TRUE(auth_->EndConnection().ok());
  }
  for (const char* peer : {"192.0.2.1", "::2", "2001:db8::1"}) {
    SCOPED_TRACE(peer);
    auth_->BeginConnection(Peer(peer));
    Result<UniqueFd> fd = auth_->V1Folder(42, true);
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.status().code(), Status::Code::kDenied);
    EXPECT_EQ(fd.status().message(),
              std::string("v1 refused from ") + peer + ": legacy_v1 = loopback");
    ASSERT_TRUE(auth_->EndConnection().ok());
  }
}

TEST_F(MonitorTest, LegacyV1OffRefusesEvenLoopback) {
  Start(conf::LegacyV1::kOff);
  auth_->BeginConnection(Peer("127.0.0.1"));
  Result<UniqueFd> fd = auth_->V1Folder(42, true);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().message(), "v1 refused from 127.0.0.1: legacy_v1 = off");
  EXPECT_FALSE(std::filesystem::exists(storage_.Sub("42")));
}

TEST_F(MonitorTest, LegacyV1OnAllowsAnyPeerAndManyRequestsPerConnection) {
  Start(conf::LegacyV1::kOn);
  auth_->BeginConnection(Peer("198.51.100.7"));
  Result<UniqueFd> a = auth_->V1Folder(42, true);
  ASSERT_TRUE(a.ok()) << a.status().message();
  Result<UniqueFd> b = auth_->V1Folder(43, true);
  ASSERT_TRUE(b.ok()) << b.status().message();
  ExpectSameFile(b->get(), storage_.Sub("43"));
  // Without `create` a missing folder stays missing.
  Result<UniqueFd> c = auth_->V1Folder(44, false);
  EXPECT_EQ(c.status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(storage_.Sub("44")));
}

TEST_F(MonitorTest, ASymlinkPlantedInStorageIsNotFollowed) {
  Start(conf::LegacyV1::kOn);
  testing::TempDir elsewhere;
  ASSERT_EQ(::symlink(elsewhere.path().c_str(), storage_.Sub("42").c_str()), 0);
  Result<UniqueFd> fd = auth_->V1Folder(42, true);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Status::Code::kIoError);
  EXPECT_TRUE(Verdict().ok());
}

TEST_F(MonitorTest, ASilentMonitorIsATimeoutAndAGoneOneIsClosed) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd monitor_end(sv[0]), worker_end(sv[1]);
  worker::MonitorAuthenticator auth(worker_end.get(), milliseconds(200));
  Result<UniqueFd> r = auth.V1Folder(42, true);
  EXPECT_EQ(r.status().code(), Status::Code::kTimeout);
  monitor_end.reset();
  r = auth.V1Folder(42, true);
  EXPECT_EQ(r.status().code(), Status::Code::kClosed) << r.status().message();
}

TEST(MonitorAddressTest, LoopbackAndFormatting) {
  EXPECT_TRUE(IsLoopback(Peer("127.0.0.1").address));
  EXPECT_TRUE(IsLoopback(Peer("127.255.0.9").address));
  EXPECT_TRUE(IsLoopback(Peer("::1").address));
  EXPECT_TRUE(IsLoopback(Peer("::ffff:127.0.0.1").address));
  EXPECT_FALSE(IsLoopback(Peer("128.0.0.1").address));
  EXPECT_FALSE(IsLoopback(Peer("::").address));
  EXPECT_FALSE(IsLoopback(Peer("::127.0.0.1").address));
  EXPECT_EQ(FormatAddress(Peer("192.0.2.1").address), "192.0.2.1");
  EXPECT_EQ(FormatAddress(Peer("2001:db8::1").address), "2001:db8::1");
}

}  // namespace
}  // namespace backupd::daemon
