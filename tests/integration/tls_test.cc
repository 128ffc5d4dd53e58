// test process (root): TLS against the real daemon — both clients' round trip and certificate
// checks, the wrong protocol on either port, a stalled handshake, `backupd -t` and a reload with
// a new certificate. Certificates are made by the `openssl` program in each test's temp folder.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/wire.h"
#include "protocol/wire_v2.h"
#include "tests/integration/daemon_test.h"

namespace backupd::testing {
namespace {

using Clock = std::chrono::steady_clock;

constexpr Millis kClientTimeout{20000};
// A refusal must come at once, far below the 5 s idle_timeout the harness configures.
constexpr Millis kPrompt{3000};
constexpr int kExitConnection = 3;
constexpr int kExitUntrusted = 5;

std::string Output(const ProgramResult& r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
         "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// A self-signed certificate and its key at `cert` and `key`, valid for `san`.
Status MakeCertificate(const std::string& cert, const std::string& key, const std::string& cn,
                       const std::string& san = "IP:127.0.0.1") {
  ProgramResult r =
      RunProgram({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                  "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san},
                 "/", kClientTimeout);
  if (r.exit_code != 0) return Status::IoError("openssl req: " + Output(r));
  return Status::Ok();
}

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string Sha256(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", md[i]);
    hex += byte;
  }
  return hex;
}

std::string FileFingerprint(const std::string& pem) {
  FILE* f = std::fopen(pem.c_str(), "r");
  if (f == nullptr) return "";
  X509Ptr cert(PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  return Sha256(cert.get());
}

// A blocking TCP connection to 127.0.0.1:port whose reads and writes give up after `timeout`.
UniqueFd ConnectTcp(uint16_t port, Millis timeout = kPrompt) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  if (!fd.valid() || connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    return UniqueFd();
  }
  return fd;
}

// The SHA-256 fingerprint of the certificate a TLS server on `port` presents ("" on failure).
std::string ServedFingerprint(uint16_t port) {
  UniqueFd fd = ConnectTcp(port);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  if (!fd.valid() || !ssl || SSL_set_fd(ssl.get(), fd.get()) != 1 || SSL_connect(ssl.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  X509Ptr cert(SSL_get1_peer_certificate(ssl.get()));
  SSL_shutdown(ssl.get());
  return Sha256(cert.get());
}

// The first bytes of a real ClientHello, as OpenSSL writes it into a memory BIO.
std::string ClientHello() {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // the SSL owns both now
  SSL_connect(ssl.get());           // wants to read the server's answer: that is the point
  ERR_clear_error();
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<size_t>(len));
}

// A TLS client whose records go through memory: the test moves them to and from the (blocking)
// socket, so a handshake stops exactly where the test wants it, however the machine is loaded.
class SteppedTlsClient {
 public:
  explicit SteppedTlsClient(int fd)
      : fd_(fd),
        ctx_(SSL_CTX_new(TLS_client_method()), SSL_CTX_free),
        ssl_(SSL_new(ctx_.get()), SSL_free) {
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_.get(), in_, out_);  // the SSL owns both now
  }
  SSL* ssl() { return ssl_.get(); }
  // Sends the ClientHello, and nothing else.
  bool Hello() {
    SSL_connect(ssl_.get());
    ERR_clear_error();
    return Flush();
  }
  // Calls `step` (an SSL_connect, SSL_read, ...) until it returns more than 0, sending what it
  // wrote and giving it what the server sends; -1 when the server closed or failed it first.
  int Drive(const std::function<int()>& step) {
    for (;;) {
      const int r = step();
      if (!Flush()) return -1;
      if (r > 0) return r;
      if (SSL_get_error(ssl_.get(), r) != SSL_ERROR_WANT_READ) return -1;
      char buf[16384];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return -1;
      BIO_write(in_, buf, static_cast<int>(n));
    }
  }
  // Sends what the SSL wrote so far.
  bool Flush() {
    char* data = nullptr;
    const long len = BIO_get_mem_data(out_, &data);
    if (len > 0 && send(fd_, data, static_cast<size_t>(len), MSG_NOSIGNAL) != len) return false;
    (void)BIO_reset(out_);
    return true;
  }

 private:
  int fd_;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx_;
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
};

// Reads until the server closes (EOF or reset); what it sent first, or nullopt if it did not
// close within `timeout`.
std::optional<std::string> ReadUntilClosed(int fd, Millis timeout) {
  std::string got;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) return got;
    if (n > 0) got.append(buf, static_cast<size_t>(n));
  }
  return std::nullopt;
}

enum class ClientKind { kCpp, kPython };

std::string KindName(const ::testing::TestParamInfo<ClientKind>& info) {
  return info.param == ClientKind::kCpp ? "BackupClient" : "PythonClient";
}

class TlsTest : public DaemonTest {
 protected:
  DaemonOptions Options() const override {
    DaemonOptions o;
    o.overrides = {"tls_listen=127.0.0.1:0", "tls_cert=" + cert(), "tls_key=" + key()};
    o.overrides.insert(o.overrides.end(), extra_.begin(), extra_.end());
    return o;
  }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: backupd's workers chroot and drop to nobody";
    Status s = MakeCertificate(cert(), key(), "backupd-test");
    ASSERT_TRUE(s.ok()) << s.ToString();
    DaemonTest::SetUp();
    if (HasFatalFailure()) return;
    // Start() returns at the first "listening on" line; the TLS one follows it, maybe not yet read.
    ASSERT_TRUE(daemon_.WaitForLog(
        [](const std::string& log) { return log.find(" (TLS)") != std::string::npos; }, kPrompt))
        << daemon_.Log();
    tls_port_ = TlsPort();
    ASSERT_NE(tls_port_, 0) << daemon_.Log();
  }

  std::string cert() const { return daemon_.dir() + "/cert.pem"; }
  std::string key() const { return daemon_.dir() + "/key.pem"; }

  // The port of the "listening on 127.0.0.1:PORT (TLS)" line.
  uint16_t TlsPort() const {
    const std::string log = daemon_.Log();
    const std::string suffix = " (TLS)";
    size_t end = log.find(suffix);
    if (end == std::string::npos) return 0;
    size_t colon = log.rfind(':', end);
    return static_cast<uint16_t>(std::stoul(log.substr(colon + 1, end - colon - 1)));
  }

  ProgramResult Client(ClientKind kind, const std::string& server,
                       const std::vector<std::string>& args) {
    std::vector<std::string> argv;
    if (kind == ClientKind::kCpp) {
      argv = {BackupClientPath()};
    } else {
      argv = {Python3Path(), PythonClientPath()};
    }
    // v1, which the daemon allows on loopback: these tests are about the TLS layer.
    argv.insert(argv.end(), {"--protocol", "1", "--server", server});
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProgram(argv, daemon_.dir(), kClientTimeout);
  }
  std::string TlsServer() const { return "127.0.0.1:" + std::to_string(tls_port_); }

  std::vector<std::string> extra_;  // more -o settings, set before SetUp
  uint16_t tls_port_ = 0;
};

class TlsClientsTest : public TlsTest, public ::testing::WithParamInterface<ClientKind> {};

TEST_F(TlsTest, ListensOnTheTlsSocketAfterThePlainOnes) {
  const std::string log = daemon_.Log();
  size_t plain = log.find("listening on 127.0.0.1:" + std::to_string(daemon_.port()) + "\n");
  size_t tls = log.find("listening on 127.0.0.1:" + std::to_string(tls_port_) + " (TLS)");
  ASSERT_NE(plain, std::string::npos) << log;
  ASSERT_NE(tls, std::string::npos) << log;
  EXPECT_LT(plain, tls) << log;
}

TEST_P(TlsClientsTest, RoundTripsEveryOperation) {
  const std::string file = daemon_.dir() + "/data.bin";
  // Several TLS records, and a size no record boundary divides.
  const std::string content = RandomBytes(1000003, 9);
  ASSERT_TRUE(WriteFile(file, content));
  const std::vector<std::string> tls = {"--tls", "--ca", cert(), "--user", "77"};
  auto run = [&](std::vector<std::string> command) {
    std::vector<std::string> args = tls;
    args.insert(args.end(), command.begin(), command.end());
    return Client(GetParam(), TlsServer(), args);
  };

  ProgramResult r = run({"backup", file, "--name", "docs/data.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(UserDir(77) + "/docs/data.bin"), content);
  r = run({"list"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "docs/data.bin\n");
  r = run({"restore", "docs/data.bin", "-o", daemon_.dir() + "/back.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(ReadFile(daemon_.dir() + "/back.bin"), content);
  r = run({"delete", "docs/data.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_FALSE(PathExists(UserDir(77) + "/docs/data.bin"));
  r = run({"list"});
  EXPECT_EQ(r.exit_code, 0) << Output(r);
  EXPECT_EQ(r.out, "");
}

TEST_P(TlsClientsTest, RefusesASelfSignedCertificateWithoutCa) {
  ProgramResult r = Client(GetParam(), TlsServer(), {"--tls", "--user", "77", "list"});
  EXPECT_EQ(r.exit_code, kExitUntrusted) << Output(r);
  EXPECT_NE(r.err.find("server certificate not trusted: self-signed certificate"),
            std::string::npos)
      << Output(r);
}

TEST_P(TlsClientsTest, RefusesACertificateForAnotherHost) {
  // The certificate names IP:127.0.0.1 only; "localhost" is the same server by another name.
  ProgramResult r = Client(GetParam(), "localhost:" + std::to_string(tls_port_),
                           {"--tls", "--ca", cert(), "--user", "77", "list"});
  EXPECT_EQ(r.exit_code, kExitUntrusted) << Output(r);
  EXPECT_NE(r.err.find("server certificate not trusted"), std::string::npos) << Output(r);
  EXPECT_NE(r.err.find("ostname mismatch"), std::string::npos) << Output(r);
}

TEST_P(TlsClientsTest, PlainClientOnTheTlsPortFailsPromptly) {
  const auto start = Clock::now();
  ProgramResult r = Client(GetParam(), TlsServer(), {"--user", "77", "list"});
  EXPECT_EQ(r.exit_code, kExitConnection) << Output(r);
  EXPECT_LT(Clock::now() - start, kPrompt) << Output(r);
}

TEST_P(TlsClientsTest, TlsClientOnThePlainPortFailsPromptly) {
  const auto start = Clock::now();
  ProgramResult r = Client(GetParam(), "127.0.0.1:" + std::to_string(daemon_.port()),
                           {"--tls", "--ca", cert(), "--user", "77", "list"});
  EXPECT_EQ(r.exit_code, kExitConnection) << Output(r);
  EXPECT_NE(r.err.find("TLS handshake with 127.0.0.1:"), std::string::npos) << Output(r);
  EXPECT_LT(Clock::now() - start, kPrompt) << Output(r);
}

INSTANTIATE_TEST_SUITE_P(BothClients, TlsClientsTest,
                         ::testing::Values(ClientKind::kCpp, ClientKind::kPython), KindName);

// The server seals a restore's records a chunk at a time and sends each chunk with one send(2);
// a client whose receive window is a few KiB makes most of those sends stop part way. Two
// restores asked at once must arrive whole and in order, the second behind the first's last
// record.
TEST_F(TlsTest, PipelinedRestoresReachAClientWithATinyWindowWhole) {
  const std::string file = daemon_.dir() + "/big.bin";
  const std::string content = RandomBytes(3 * 1024 * 1024 + 7, 11);
  ASSERT_TRUE(WriteFile(file, content));
  ProgramResult r =
      Client(ClientKind::kCpp, TlsServer(),
             {"--tls", "--ca", cert(), "--user", "77", "backup", file, "--name", "big.bin"});
  ASSERT_EQ(r.exit_code, 0) << Output(r);
  ASSERT_EQ(ReadFile(UserDir(77) + "/big.bin"), content);

  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd.valid());
  const int window = 4096;  // set before connect, so the window offered is small from the start
  ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &window, sizeof window), 0);
  timeval tv{static_cast<time_t>(kClientTimeout.count() / 1000), 0};
  ASSERT_EQ(setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(tls_port_);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  ASSERT_TRUE(ssl && SSL_set_fd(ssl.get(), fd.get()) == 1 && SSL_connect(ssl.get()) == 1);

  const std::string request = RequestBytes(77, protocol::Op::kRestore, "big.bin");
  const std::string both = request + request;
  size_t sent = 0;
  ASSERT_EQ(SSL_write_ex(ssl.get(), both.data(), both.size(), &sent), 1);
  ASSERT_EQ(sent, both.size());
  const std::string answer =
      protocol::EncodeResponsePrefix(static_cast<uint16_t>(protocol::ResponseCode::kRestoreOk),
                                     "big.bin", static_cast<uint32_t>(content.size())) +
      content;
  const std::string expected = answer + answer;
  std::string got;
  std::vector<char> buf(64 * 1024);
  while (got.size() < expected.size()) {
    size_t n = 0;
    if (SSL_read_ex(ssl.get(), buf.data(), buf.size(), &n) != 1) break;
    got.append(buf.data(), n);
  }
  ERR_clear_error();
  ASSERT_EQ(got.size(), expected.size()) << daemon_.Log();
  EXPECT_TRUE(got == expected) << "the restored bytes differ";
}

TEST_F(TlsTest, V1RequestOnTheTlsPortIsRefusedAtOnce) {
  UniqueFd fd = ConnectTcp(tls_port_);
  ASSERT_TRUE(fd.valid());
  const std::string request = RequestBytes(77, protocol::Op::kList, "");
  ASSERT_EQ(send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::optional<std::string> answer = ReadUntilClosed(fd.get(), kPrompt);
  ASSERT_TRUE(answer.has_value()) << "the TLS port held a v1 request open";
  // At most a TLS alert, never a v1 answer.
  if (!answer->empty()) {
    EXPECT_EQ(static_cast<uint8_t>((*answer)[0]), 0x15);
  }
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"TLS handshake with 127.0.0.1:", "failed: wrong version"}, kPrompt))
      << daemon_.Log();
}

TEST_F(TlsTest, ClientHelloOnThePlainPortGetsAnAlertAndTheConnectionCloses) {
  const std::string hello = ClientHello();
  ASSERT_GT(hello.size(), 8u);
  ASSERT_EQ(hello[0], '\x16');
  UniqueFd fd = ConnectTcp(daemon_.port());
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(send(fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(hello.size()));
  const auto start = Clock::now();
  // The sniffer's answer (docs/PROTOCOL.md, Part 3): a fatal protocol_version alert, then close.
  std::optional<std::string> answer = ReadUntilClosed(fd.get(), kPrompt);
  ASSERT_TRUE(answer.has_value()) << "connection left open";
  EXPECT_EQ(*answer, protocol::v2::Refusal(protocol::v2::Sniffed::kTls));
  EXPECT_LT(Clock::now() - start, kPrompt);
}

class TlsStallTest : public TlsTest {
 protected:
  void SetUp() override {
    extra_ = {"idle_timeout=2"};
    TlsTest::SetUp();
  }
};

TEST_F(TlsStallTest, AStalledHandshakeIsDroppedAtTheIdleTimeout) {
  UniqueFd fd = ConnectTcp(tls_port_, Millis(10000));
  ASSERT_TRUE(fd.valid());
  // Enough to be accepted (TCP_DEFER_ACCEPT waits for data), not enough to finish a hello.
  const std::string part = ClientHello().substr(0, 20);
  ASSERT_EQ(send(fd.get(), part.data(), part.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(part.size()));
  const auto start = Clock::now();
  std::optional<std::string> answer = ReadUntilClosed(fd.get(), Millis(6000));
  ASSERT_TRUE(answer.has_value()) << "a stalled handshake held the worker";
  EXPECT_GE(Clock::now() - start, Millis(1500));
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"TLS handshake with 127.0.0.1:", "client timed out"}, kPrompt))
      << daemon_.Log();
}

TEST_F(TlsTest, ReloadServesANewCertificateAndKeepsItOnABadOne) {
  const std::string first = FileFingerprint(cert());
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(ServedFingerprint(tls_port_), first);

  std::vector<pid_t> old_workers = daemon_.Workers();
  ASSERT_TRUE(MakeCertificate(cert(), key(), "backupd-renewed").ok());
  const std::string second = FileFingerprint(cert());
  ASSERT_NE(second, first);
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, Millis(5000)))
      << daemon_.Log();
  ASSERT_TRUE(Eventually(
      [&] {
        for (pid_t pid : old_workers) {
          if (ProcessAlive(pid)) return false;
        }
        return true;
      },
      Millis(5000)));
  EXPECT_EQ(ServedFingerprint(tls_port_), second);

  // A key that does not belong to the certificate: the reload fails and nothing changes.
  const std::string other = daemon_.dir() + "/other";
  ASSERT_TRUE(MakeCertificate(other + "-cert.pem", other + "-key.pem", "stranger").ok());
  ASSERT_EQ(rename((other + "-key.pem").c_str(), key().c_str()), 0);
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  EXPECT_TRUE(
      daemon_.WaitForLogLine({"reload failed", "does not belong to tls_cert"}, Millis(5000)))
      << daemon_.Log();
  EXPECT_EQ(ServedFingerprint(tls_port_), second);
}

// A reload's SIGTERM reaching the worker mid-handshake: the connection was accepted, so the
// handshake finishes and the request after it is served; then the worker retires.
TEST_F(TlsTest, AReloadMidHandshakeStillServesTheHandshakeAndTheRequestAfterIt) {
  Result<std::vector<pid_t>> workers = daemon_.WaitForWorkers(3, kPrompt);
  ASSERT_TRUE(workers.ok()) << workers.status().ToString();
  UniqueFd fd = ConnectTcp(tls_port_, Millis(10000));
  ASSERT_TRUE(fd.valid());
  SteppedTlsClient tls(fd.get());
  ASSERT_TRUE(tls.Hello());
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &len), 0);
  const std::string client = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  pid_t holder = -1;
  ASSERT_TRUE(Eventually(
      [&] { return (holder = HolderOfConnection(*workers, tls_port_, client)) > 0; }, kPrompt));
  ASSERT_EQ(kill(daemon_.pid(), SIGHUP), 0);
  // The old generation has its SIGTERM before this line is logged (daemon/reload.cc).
  ASSERT_TRUE(daemon_.WaitForLogLine({"configuration reloaded (generation 2)"}, kPrompt))
      << daemon_.Log();
  ASSERT_EQ(tls.Drive([&] { return SSL_connect(tls.ssl()); }), 1) << "the handshake was cut off";
  const std::string request =
      protocol::EncodeRequestPrefix(5613, protocol::Op::kBackup, "late", 10) + "but served";
  ASSERT_EQ(SSL_write(tls.ssl(), request.data(), static_cast<int>(request.size())),
            static_cast<int>(request.size()));
  ASSERT_TRUE(tls.Flush());
  std::array<uint8_t, protocol::kResponseHeaderSize> head{};
  for (size_t got = 0; got < head.size();) {
    const int n = tls.Drive([&] {
      return SSL_read(tls.ssl(), head.data() + got, static_cast<int>(head.size() - got));
    });
    ASSERT_GT(n, 0) << "no answer";
    got += static_cast<size_t>(n);
  }
  EXPECT_EQ(protocol::DecodeResponseHeader(head).status, kOk);
  EXPECT_EQ(ReadFile(UserDir(5613) + "/late"), "but served");
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(holder); }, kPrompt));
}

// The upload step hook (test builds only) stops the server of a connection it ends at the start
// of its drain, after its answer.
class TlsDrainingTest : public TlsTest {
 protected:
  void SetUp() override {
    ::setenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP", "draining", 1);
    TlsTest::SetUp();
    ::unsetenv("BACKUPD_TEST_STOP_AT_UPLOAD_STEP");
  }
};

// As over a bare socket (DrainingTest): a TLS client learns of the end (close_notify, then the
// FIN) right after the answer, not after the server's drain of up to 200 ms.
TEST_F(TlsDrainingTest, TheClientSeesCloseNotifyBeforeTheServerDrainsAndCloses) {
#ifndef BACKUPD_TEST_HOOKS
  GTEST_SKIP() << "built without BACKUPD_TEST_HOOKS";
#endif
  UniqueFd fd = ConnectTcp(tls_port_, Millis(10000));
  ASSERT_TRUE(fd.valid());
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  ASSERT_TRUE(ssl && SSL_set_fd(ssl.get(), fd.get()) == 1);
  ASSERT_EQ(SSL_connect(ssl.get()), 1);
  // A v2 request before the login: answered 1013, and the connection ended.
  const std::string request =
      protocol::v2::EncodeRequestPrefix(4104, protocol::v2::Op::kList, "", 0);
  ASSERT_EQ(SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())),
            static_cast<int>(request.size()));
  std::string got;
  char buf[4096];
  int n;
  while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(SSL_get_error(ssl.get(), n), SSL_ERROR_ZERO_RETURN) << "no close_notify within 10 s";
  ASSERT_GE(got.size(), protocol::v2::kResponseHeaderSize);
  std::array<uint8_t, protocol::v2::kResponseHeaderSize> head{};
  std::copy_n(got.begin(), head.size(), head.begin());
  EXPECT_EQ(protocol::v2::DecodeResponseHeader(head).status, 1013);
  EXPECT_GT(ResumeStoppedDescendant(daemon_.pid(), Millis(10000)), 0)
      << "the server did not stop at its drain; its log: " << daemon_.Log();
}

TEST_F(TlsTest, CheckConfigRefusesAKeyThatDoesNotMatch) {
  const std::string other = daemon_.dir() + "/other";
  ASSERT_TRUE(MakeCertificate(other + "-cert.pem", other + "-key.pem", "stranger").ok());
  ProgramResult r =
      RunProgram({BackupdPath(), "-t", "-c", daemon_.config_file(), "-o", "tls_listen=127.0.0.1:0",
                  "-o", "tls_cert=" + cert(), "-o", "tls_key=" + other + "-key.pem"},
                 daemon_.dir(), kClientTimeout);
  EXPECT_EQ(r.exit_code, 1) << Output(r);
  EXPECT_NE(r.err.find("does not belong to tls_cert " + cert()), std::string::npos) << Output(r);

  r = RunProgram({BackupdPath(), "-t", "-c", daemon_.config_file(), "-o", "tls_listen=127.0.0.1:0"},
                 daemon_.dir(), kClientTimeout);
  EXPECT_EQ(r.exit_code, 1) << Output(r);
  EXPECT_NE(r.err.find("tls_listen needs tls_cert and tls_key"), std::string::npos) << Output(r);

  r = RunProgram({BackupdPath(), "-t", "-c", daemon_.config_file(), "-o", "tls_listen=127.0.0.1:0",
                  "-o", "tls_cert=" + cert(), "-o", "tls_key=" + key()},
                 daemon_.dir(), kClientTimeout);
  EXPECT_EQ(r.exit_code, 0) << Output(r);
}

}  // namespace
}  // namespace backupd::testing
